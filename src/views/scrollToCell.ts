import type { NotebookPanel } from '@jupyterlab/notebook';
import type { ICellSpan } from '../model/timelineSeries';

/**
 * Make the cell a chart span (or a warning) stands for the notebook's active cell and scroll it into
 * view. The cell is found by its id (stable across edits and moves); for records
 * without one, by execution count. Returns the cell's index, or -1 when the cell is
 * gone (deleted, or the notebook was reloaded since it ran).
 */
export function scrollToCell(
  panel: NotebookPanel,
  span: Pick<ICellSpan, 'cell_id' | 'execution_count'>
): number {
  const notebook = panel.content;
  const cells = notebook.widgets;
  let index = span.cell_id ? cells.findIndex(cell => cell.model.id === span.cell_id) : -1;
  if (index < 0 && span.execution_count !== null) {
    index = cells.findIndex(
      cell =>
        cell.model.type === 'code' &&
        (cell.model as unknown as { executionCount: number | null }).executionCount ===
          span.execution_count
    );
  }
  if (index < 0) {
    return -1;
  }
  notebook.deselectAll();
  notebook.activeCellIndex = index;
  void notebook.scrollToItem(index, 'center');
  return index;
}
