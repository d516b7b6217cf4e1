import type { Cell } from '@jupyterlab/cells';
import type { Notebook } from '@jupyterlab/notebook';

/** A cell as the kernel knows it: JupyterLab's cell id, and the run's execution count. */
export interface ICellReference {
  cell_id: string | null;
  execution_count: number | null;
}

/** The notebook's cell widget with this id (ids survive edits and moves), or null. */
export function cellById(notebook: Notebook, cellId: string | null): Cell | null {
  if (!cellId) {
    return null;
  }
  return notebook.widgets.find(cell => cell.model.id === cellId) ?? null;
}

/**
 * The index of the cell a record is about: by id, else (records from front ends that
 * send no id) the code cell showing that execution count; -1 when it is gone.
 */
export function cellIndexOf(notebook: Notebook, reference: ICellReference): number {
  const cells = notebook.widgets;
  if (reference.cell_id) {
    const index = cells.findIndex(cell => cell.model.id === reference.cell_id);
    if (index >= 0) {
      return index;
    }
  }
  if (reference.execution_count === null) {
    return -1;
  }
  return cells.findIndex(
    cell =>
      cell.model.type === 'code' &&
      (cell.model as unknown as { executionCount: number | null }).executionCount ===
        reference.execution_count
  );
}
