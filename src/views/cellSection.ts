import { TranslationBundle } from '@jupyterlab/translation';
import { MemoryModel } from '../model/memoryModel';
import { ICellRecord } from '../protocol';
import { cellFigures } from './cellFigures';
import { element, setText } from './dom';
import { Section } from './section';

const RECENT_CELLS = 5;

/** The running cell and what the last cells cost. */
export class CellSection extends Section {
  constructor(trans: TranslationBundle) {
    super(trans, 'jp-oomguard-cells', trans.__('Cells'));
    this.node.append(this._running, this._list);
  }

  render(model: MemoryModel | null): void {
    const trans = this.trans;
    const running = model?.runningCell ?? null;
    const cells = model?.cells ?? [];
    this.node.hidden = !running && cells.length === 0;
    setText(
      this._running,
      running
        ? trans.__(
            'Cell %1 running for %2 s',
            label(running.execution_count),
            Math.max(0, Math.round(Date.now() / 1000 - running.start))
          )
        : ''
    );
    this._running.hidden = !running;
    this._list.replaceChildren(
      ...cells
        .slice(-RECENT_CELLS)
        .reverse()
        .map(record => this._row(record))
    );
  }

  private _row(record: ICellRecord): HTMLElement {
    const row = element('li', 'jp-oomguard-cell');
    row.dataset.status = record.status;
    row.append(
      element('span', 'jp-oomguard-cell-count', label(record.execution_count)),
      element(
        'span',
        'jp-oomguard-cell-figures',
        cellFigures(record, this.trans).join(' · ')
      )
    );
    return row;
  }

  private _running = element('div', 'jp-oomguard-running');
  private _list = element('ul', 'jp-oomguard-cell-list');
}

function label(count: number | null): string {
  return `[${count ?? ' '}]`;
}
