import { TranslationBundle } from '@jupyterlab/translation';
import { CellsChange } from '../model/cellsModel';
import { hasWorkerProblems } from '../model/clusters';
import { MemoryModel } from '../model/memoryModel';
import { INotebookMemory } from '../tokens';
import { element } from './dom';
import { workerWarnings } from './clusterText';
import { cellName, ICellReference } from './findCell';
import { deathMessage } from './postMortemText';
import { Section } from './section';
import { findingFigures, warningListTitle } from './warningText';

/** Items listed at most: the newest matter; the rest are in the exports. */
const SHOWN = 50;

export type WarningKind = 'died' | 'watchdog' | 'workers' | 'prediction' | 'leak';

/** One line of the warnings list, with the cell it is about (when known). */
export interface IWarningEntry {
  kind: WarningKind;
  execution_count: number | null;
  cell_id: string | null;
  title: string;
  detail: string;
}

export type RevealCell = (cell: ICellReference) => void;

/** How a cell is named in the list (views/findCell.ts: cellName, for the notebook shown). */
export type NameCell = (cell: ICellReference) => string;

/**
 * Everything oomguard warned about in this notebook, worst first: kernel deaths,
 * cells the watchdog stopped, cells whose cluster restarted or lost workers,
 * predictions before a cell ran, leak hints. Each entry with a cell is a button that
 * scrolls to that cell.
 */
export class WarningsSection extends Section {
  constructor(trans: TranslationBundle, onReveal: RevealCell) {
    super(trans, 'jp-oomguard-warnings', trans.__('Warnings'));
    this._onReveal = onReveal;
    this.node.append(this._list);
  }

  protected listen(memory: INotebookMemory): void {
    const model = memory.model;
    this.watch(model.postMortems.changed, () => this.update());
    this.watch(model.warnings.changed, () => this.update());
    this.watch(model.cells.changed, (_, change: CellsChange) => {
      const records =
        change.kind === 'record' ? [change.record] : change.kind === 'backfill' ? change.records : [];
      if (records.some(record => record.stopped_by === 'watchdog' || hasWorkerProblems(record))) {
        this.update();
      }
    });
    // Cells are named by their place in the notebook: it moves when cells do.
    const cells = memory.panel.content?.model?.cells;
    if (cells) {
      this.watch(cells.changed, () => this.update());
    }
  }

  render(): void {
    const memory = this.memory;
    const notebook = memory?.panel.content ?? null;
    const entries = memory
      ? warningEntries(memory.model, this.trans, cell => cellName(notebook, cell, this.trans))
      : [];
    this.node.hidden = entries.length === 0;
    this._list.replaceChildren(...entries.slice(0, SHOWN).map(entry => this._item(entry)));
  }

  private _item(entry: IWarningEntry): HTMLElement {
    const item = element('li', 'jp-oomguard-warning-entry');
    item.dataset.kind = entry.kind;
    const title = element('div', 'jp-oomguard-warning-entry-title', entry.title);
    const detail = element('div', 'jp-oomguard-warning-entry-detail', entry.detail);
    if (entry.cell_id === null && entry.execution_count === null) {
      item.append(title, detail);
      return item;
    }
    const button = element('button', 'jp-oomguard-warning-link');
    button.type = 'button';
    button.title = this.trans.__('Show the cell');
    if (entry.cell_id) {
      button.dataset.cellId = entry.cell_id;
    }
    button.append(title, detail);
    button.addEventListener('click', () =>
      this._onReveal({ execution_count: entry.execution_count, cell_id: entry.cell_id })
    );
    item.appendChild(button);
    return item;
  }

  private _onReveal: RevealCell;
  private _list = element('ul', 'jp-oomguard-warning-list');
}

/**
 * The model's warnings as list entries, worst kind first and newest first within;
 * cells named by `name` (by default by execution count: "cell [5]").
 */
export function warningEntries(
  model: MemoryModel,
  trans: TranslationBundle,
  name: NameCell = cell => cellName(null, cell, trans)
): IWarningEntry[] {
  const died: IWarningEntry[] = model.postMortems.all.map(postMortem => ({
    kind: 'died',
    execution_count: postMortem.execution_count,
    cell_id: postMortem.cell_id,
    title: trans.__('Kernel died in %1', name(postMortem)),
    detail: deathMessage(postMortem, trans, name(postMortem))
  }));
  const stopped: IWarningEntry[] = model.cells.records
    .filter(record => record.stopped_by === 'watchdog')
    .map(record => ({
      kind: 'watchdog',
      execution_count: record.execution_count,
      cell_id: record.cell_id,
      title: trans.__('Watchdog stopped %1', name(record)),
      detail: record.notes.find(note => note.startsWith('stopped at')) ?? record.notes.join(' ')
    }));
  const workers = workerWarnings(model.cells.records, trans, name);
  const predicted: IWarningEntry[] = model.warnings.warnings.map(warning => {
    const worst = warning.findings.reduce(
      (a, b) => (b.peak_bytes > a.peak_bytes ? b : a),
      warning.findings[0]
    );
    return {
      kind: 'prediction',
      execution_count: warning.execution_count,
      cell_id: warning.cell_id,
      title: warningListTitle(warning, name(warning), trans),
      detail: worst
        ? [findingFigures(worst, warning, trans), worst.suggestion].filter(Boolean).join(' ')
        : ''
    };
  });
  const after = model.warnings.hintsAfter;
  const leaks: IWarningEntry[] = model.warnings.hints.map(hint => ({
    kind: 'leak',
    execution_count: after?.execution_count ?? null,
    cell_id: after?.cell_id ?? null,
    title: hint.message,
    detail: hint.suggestion
  }));
  const newestFirst = (entries: IWarningEntry[]) => entries.reverse();
  return [
    ...newestFirst(died),
    ...newestFirst(stopped),
    ...newestFirst(workers),
    ...newestFirst(predicted),
    ...leaks
  ];
}
