import type { Notebook } from '@jupyterlab/notebook';
import { TranslationBundle } from '@jupyterlab/translation';
import { CellsChange } from '../model/cellsModel';
import { ICellRecord } from '../protocol';
import { INotebookMemory } from '../tokens';
import { formatDuration, signedBytes } from './cellFigures';
import { element, setText } from './dom';
import { cellIndexOf, cellName, firstLine, ICellReference } from './findCell';
import { Section } from './section';

/** Rows drawn at most: the top of the ranking; the rest are in the exports. */
const SHOWN = 50;

type SortKey = 'cell' | 'peak' | 'kept';

interface IRow {
  record: ICellRecord;
  /** The cell's place in the notebook, from 0. */
  index: number;
}

/**
 * Which cells used the most memory: every cell of the notebook that ran, its latest
 * run's record (a re-run replaces it; cells deleted from the notebook drop out), ranked
 * by the peak above where the cell started (default), by the RAM it kept (what it
 * left allocated), or in notebook order. Each row's cell name is a button that takes
 * you to the cell. Above, the cell running now and for how long.
 */
export class CellSection extends Section {
  constructor(
    trans: TranslationBundle,
    private _onReveal: (cell: ICellReference) => void
  ) {
    super(trans, 'jp-oomguard-cells', trans.__('Cells'));
    this._running.setAttribute('role', 'status');
    this._table.setAttribute('aria-label', trans.__('Cells ranked by memory'));
    this._table.append(this._head(), this._body);
    this.node.append(this._running, this._table, this._more);
  }

  protected listen(memory: INotebookMemory): void {
    this.watch(memory.model.cells.changed, (_, change: CellsChange) => {
      if (change.kind === 'running') {
        this.tick();
        this.node.hidden = this._isEmpty();
      } else {
        this.update();
      }
    });
    // Deleted cells drop out, moved ones are renamed by their new place.
    const cells = memory.panel.content?.model?.cells;
    if (cells) {
      this.watch(cells.changed, () => this.update());
    }
  }

  render(): void {
    this.tick();
    this.node.hidden = this._isEmpty();
    const notebook = this._notebook();
    const rows: IRow[] = [];
    for (const record of this.memory?.model.cells.latestPerCell ?? []) {
      const index = notebook ? cellIndexOf(notebook, record) : -1;
      if (index >= 0) {
        rows.push({ record, index });
      }
    }
    rows.sort((a, b) => this._compare(a, b) || a.index - b.index);
    this._table.hidden = rows.length === 0;
    this._table.dataset.rows = String(rows.length);
    this._body.replaceChildren(...rows.slice(0, SHOWN).map(row => this._row(row, notebook)));
    setText(
      this._more,
      rows.length > SHOWN ? this.trans.__('%1 more cells ran.', rows.length - SHOWN) : ''
    );
    this._updateHeaders();
  }

  /** "Cell [4] running for 12 s": moves every second, the table does not. */
  tick(): void {
    const running = this.memory?.model.cells.running ?? null;
    setText(
      this._running,
      running
        ? this.trans.__(
            'Cell %1 running for %2 s',
            `[${running.execution_count ?? ' '}]`,
            Math.max(0, Math.round(Date.now() / 1000 - running.start))
          )
        : ''
    );
    this._running.hidden = !running;
  }

  private _isEmpty(): boolean {
    const cells = this.memory?.model.cells;
    return !cells || (!cells.running && cells.latestPerCell.length === 0);
  }

  private _notebook(): Notebook | null {
    return this.memory?.panel.content ?? null;
  }

  private _compare(a: IRow, b: IRow): number {
    const value = (row: IRow): number => {
      switch (this._sortKey) {
        case 'cell':
          return row.index;
        case 'peak':
          return row.record.ram_peak_delta ?? Number.NEGATIVE_INFINITY;
        case 'kept':
          return row.record.ram_delta ?? Number.NEGATIVE_INFINITY;
      }
    };
    const [x, y] = [value(a), value(b)];
    const direction = this._descending ? -1 : 1;
    return x < y ? -direction : x > y ? direction : 0;
  }

  private _head(): HTMLElement {
    const trans = this.trans;
    const row = element('tr', 'jp-oomguard-cell-head');
    const columns: [SortKey, string, string][] = [
      ['cell', trans.__('Cell'), trans.__('Sort in notebook order')],
      ['peak', trans.__('Peak'), trans.__('Sort by the peak above where the cell started')],
      ['kept', trans.__('Kept'), trans.__('Sort by the RAM the cell left allocated')]
    ];
    for (const [key, label, title] of columns) {
      const header = element('th', 'jp-oomguard-cell-column');
      header.scope = 'col';
      header.dataset.column = key;
      const button = element('button', 'jp-oomguard-sort', label);
      button.type = 'button';
      button.dataset.sortKey = key;
      button.title = title;
      button.addEventListener('click', () => {
        // Memory reads best largest first; cells in notebook order.
        this._descending = this._sortKey === key ? !this._descending : key !== 'cell';
        this._sortKey = key;
        this.render();
      });
      header.appendChild(button);
      row.appendChild(header);
    }
    const head = element('thead', '');
    head.appendChild(row);
    return head;
  }

  private _updateHeaders(): void {
    const order = this._descending ? 'descending' : 'ascending';
    for (const header of this._table.querySelectorAll<HTMLElement>('th')) {
      const sorted = header.dataset.column === this._sortKey;
      header.setAttribute('aria-sort', sorted ? order : 'none');
      const button = header.querySelector<HTMLElement>('.jp-oomguard-sort');
      if (button) {
        button.dataset.sorted = sorted ? order : '';
      }
    }
  }

  private _row({ record, index }: IRow, notebook: Notebook | null): HTMLElement {
    const trans = this.trans;
    const row = element('tr', 'jp-oomguard-cell');
    row.dataset.status = record.status;
    if (record.cell_id) {
      row.dataset.cellId = record.cell_id;
    }
    const source = notebook?.widgets[index]?.model.sharedModel.getSource() ?? '';
    const link = element('button', 'jp-oomguard-cell-link');
    link.type = 'button';
    link.title = trans.__('Show the cell');
    link.setAttribute(
      'aria-label',
      trans.__('Show %1', cellName(notebook, record, trans))
    );
    link.append(
      element(
        'span',
        'jp-oomguard-cell-place',
        [
          `${trans.__('cell %1', index + 1)} [${record.execution_count ?? ' '}]`,
          formatDuration(record.duration),
          record.status === 'ok' ? '' : record.status
        ]
          .filter(Boolean)
          .join(' · ')
      ),
      element('span', 'jp-oomguard-cell-source', firstLine(source))
    );
    link.addEventListener('click', () =>
      this._onReveal({ cell_id: record.cell_id, execution_count: record.execution_count })
    );
    const what = element('td', 'jp-oomguard-cell-what');
    what.appendChild(link);
    const peak = element(
      'td',
      'jp-oomguard-cell-peak',
      signedBytes(record.ram_peak_delta) + (record.peak_method === 'hwm' ? '' : ' *')
    );
    if (record.peak_method !== 'hwm') {
      peak.title = trans.__('sampled peak: a short spike may be missed');
    }
    row.append(what, peak, element('td', 'jp-oomguard-cell-kept', signedBytes(record.ram_delta)));
    return row;
  }

  private _sortKey: SortKey = 'peak';
  private _descending = true;
  private _running = element('div', 'jp-oomguard-running');
  private _table = element('table', 'jp-oomguard-cell-table');
  private _body = element('tbody', '');
  private _more = element('div', 'jp-oomguard-cells-more');
}
