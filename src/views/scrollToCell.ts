import type { NotebookPanel } from '@jupyterlab/notebook';
import { cellIndexOf, ICellReference } from './findCell';

/**
 * Make the cell a chart span or a warning stands for the notebook's active cell and
 * scroll it into view. Returns the cell's index, or -1 when the cell is gone (deleted,
 * or the notebook was reloaded since it ran).
 */
export function scrollToCell(panel: NotebookPanel, reference: ICellReference): number {
  const notebook = panel.content;
  const index = cellIndexOf(notebook, reference);
  if (index < 0) {
    return -1;
  }
  notebook.deselectAll();
  notebook.activeCellIndex = index;
  void notebook.scrollToItem(index, 'center');
  return index;
}
