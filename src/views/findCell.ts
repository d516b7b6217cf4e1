import type { Cell } from '@jupyterlab/cells';
import type { Notebook } from '@jupyterlab/notebook';
import type { TranslationBundle } from '@jupyterlab/translation';
import type { ICellReference } from '../model/cellsModel';

export type { ICellReference };

/** Characters of a cell's first line that name it ("x = torch.ones(…"). */
const NAME_CHARACTERS = 32;

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

/** The start of a cell's first line that is not blank, cut short with "…". */
export function firstLine(source: string): string {
  const line = source.split('\n').find(text => text.trim() !== '')?.trim() ?? '';
  return line.length > NAME_CHARACTERS ? `${line.slice(0, NAME_CHARACTERS - 1)}…` : line;
}

/**
 * A cell named so the user can find it: 'cell 3 of 12 ("x = torch.ones(…")', by its
 * place in the notebook and the start of its first line. Execution counts do not do
 * (a restart blanks the prompts, re-runs change them): they are the fallback for a
 * cell the notebook no longer has ("cell [5]").
 */
export function cellName(
  notebook: Notebook | null,
  reference: ICellReference,
  trans: TranslationBundle
): string {
  const index = notebook ? cellIndexOf(notebook, reference) : -1;
  if (!notebook || index < 0) {
    return trans.__('cell %1', `[${reference.execution_count ?? ' '}]`);
  }
  const count = notebook.widgets.length;
  const line = firstLine(notebook.widgets[index].model.sharedModel.getSource());
  return line
    ? trans.__('cell %1 of %2 ("%3")', index + 1, count, line)
    : trans.__('cell %1 of %2', index + 1, count);
}
