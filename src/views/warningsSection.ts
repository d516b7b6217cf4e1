import { TranslationBundle } from '@jupyterlab/translation';
import { deathMessage } from './postMortemText';
import { MemoryModel } from '../model/memoryModel';
import { element } from './dom';
import { Section } from './section';
import { findingFigures, warningListTitle } from './warningText';

/** Items listed at most: the newest matter; the rest are in the exports. */
const SHOWN = 50;

export type WarningKind = 'died' | 'watchdog' | 'prediction' | 'leak';

/** One line of the warnings list, with the cell it is about (when known). */
export interface IWarningEntry {
  kind: WarningKind;
  execution_count: number | null;
  cell_id: string | null;
  title: string;
  detail: string;
}

export type RevealCell = (cell: {
  execution_count: number | null;
  cell_id: string | null;
}) => void;

/**
 * Everything oomguard warned about in this notebook, worst first: kernel deaths,
 * cells the watchdog stopped, predictions before a cell ran, leak hints. Each entry
 * with a cell is a button that scrolls to that cell.
 */
export class WarningsSection extends Section {
  constructor(trans: TranslationBundle, onReveal: RevealCell) {
    super(trans, 'jp-oomguard-warnings', trans.__('Warnings'));
    this._onReveal = onReveal;
    this.node.append(this._list);
  }

  render(model: MemoryModel | null): void {
    // The panel renders every second: rebuild only when something listed changed.
    const version = model?.changeCount('postmortem', 'cell', 'warning', 'hints') ?? -1;
    if (model === this._model && version === this._version) {
      return;
    }
    this._model = model;
    this._version = version;
    const entries = model ? warningEntries(model, this.trans) : [];
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
  private _model: MemoryModel | null = null;
  private _version = -1;
  private _list = element('ul', 'jp-oomguard-warning-list');
}

/** The model's warnings as list entries, worst kind first and newest first within. */
export function warningEntries(model: MemoryModel, trans: TranslationBundle): IWarningEntry[] {
  const cell = (count: number | null) => `[${count ?? ' '}]`;
  const died: IWarningEntry[] = model.postMortems.map(postMortem => ({
    kind: 'died',
    execution_count: postMortem.execution_count,
    cell_id: postMortem.cell_id,
    title: trans.__('Kernel died in cell %1', cell(postMortem.execution_count)),
    detail: deathMessage(postMortem, trans)
  }));
  const stopped: IWarningEntry[] = model.cells
    .filter(record => record.stopped_by === 'watchdog')
    .map(record => ({
      kind: 'watchdog',
      execution_count: record.execution_count,
      cell_id: record.cell_id,
      title: trans.__('Cell %1 stopped by the watchdog', cell(record.execution_count)),
      detail: record.notes.find(note => note.startsWith('stopped at')) ?? record.notes.join(' ')
    }));
  const predicted: IWarningEntry[] = model.warnings.map(warning => {
    const worst = warning.findings.reduce(
      (a, b) => (b.peak_bytes > a.peak_bytes ? b : a),
      warning.findings[0]
    );
    return {
      kind: 'prediction',
      execution_count: warning.execution_count,
      cell_id: warning.cell_id,
      title: warningListTitle(warning, cell(warning.execution_count), trans),
      detail: worst
        ? [findingFigures(worst, warning, trans), worst.suggestion].filter(Boolean).join(' ')
        : ''
    };
  });
  const after = model.hintsAfter;
  const leaks: IWarningEntry[] = model.hints.map(hint => ({
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
    ...newestFirst(predicted),
    ...leaks
  ];
}
