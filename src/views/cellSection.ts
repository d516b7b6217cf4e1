import type { Notebook } from '@jupyterlab/notebook';
import { TranslationBundle } from '@jupyterlab/translation';
import { CellsChange } from '../model/cellsModel';
import { clusterPeakDelta } from '../model/clusters';
import { ICellRecord } from '../protocol';
import { INotebookMemory } from '../tokens';
import { formatDuration, signedBytes } from './cellFigures';
import { element, setText } from './dom';
import { cellIndexOf, cellName, firstLine, ICellReference } from './findCell';
import { Section } from './section';

/** Rows drawn at most: the top of the ranking; the rest are in the exports. */
const SHOWN = 50;

type SortKey = 'cell' | 'peak' | 'kept' | 'cluster';

interface IRow {
  record: ICellRecord;
  /** The cell's place in the notebook, from 0. */
  index: number;
}

/**
 * Which cells used the most memory: every cell of the notebook that ran, its latest
 * run's record (a re-run replaces it; cells deleted from the notebook drop out), ranked
 * by the peak above where the cell started (default), by the RAM it kept (what it
 * left allocated), by its cluster's sampled peak above the start (a column shown only
 * while some cell ran with a cluster), or in notebook order. Each row's cell name is a
 * button that takes you to the cell. Above, the cell running now and for how long.
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
    // The cluster's column only where a cell has one: the sidebar is narrow.
    const clusters = rows.some(row => row.record.cluster !== undefined);
    this._table.dataset.clusters = String(clusters);
    this._sortsBy = this._sortKey === 'cluster' && !clusters ? 'peak' : this._sortKey;
    rows.sort((a, b) => this._compare(a, b) || a.index - b.index);
    this._table.hidden = rows.length === 0;
    this._table.dataset.rows = String(rows.length);
    this._body.replaceChildren(
      ...rows.slice(0, SHOWN).flatMap(row => this._rows(row, notebook, clusters))
    );
    setText(
      this._more,
      rows.length > SHOWN ? this.trans.__('%1 more cells ran.', rows.length - SHOWN) : ''
    );
    this._updateHeaders(clusters);
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
      switch (this._sortsBy) {
        case 'cell':
          return row.index;
        case 'peak':
          return row.record.ram_peak_delta ?? Number.NEGATIVE_INFINITY;
        case 'kept':
          return row.record.ram_delta ?? Number.NEGATIVE_INFINITY;
        case 'cluster': {
          const cluster = row.record.cluster;
          return (cluster && clusterPeakDelta(cluster)) ?? Number.NEGATIVE_INFINITY;
        }
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
      ['kept', trans.__('Kept'), trans.__('Sort by the RAM the cell left allocated')],
      [
        'cluster',
        trans.__('Cluster'),
        trans.__("Sort by the cluster's sampled peak above where the cell started")
      ]
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

  private _updateHeaders(clusters: boolean): void {
    const order = this._descending ? 'descending' : 'ascending';
    for (const header of this._table.querySelectorAll<HTMLElement>('th')) {
      if (header.dataset.column === 'cluster') {
        header.hidden = !clusters;
      }
      const sorted = header.dataset.column === this._sortsBy;
      header.setAttribute('aria-sort', sorted ? order : 'none');
      const button = header.querySelector<HTMLElement>('.jp-oomguard-sort');
      if (button) {
        button.dataset.sorted = sorted ? order : '';
      }
    }
  }

  /**
   * A cell's row; with the cluster's column, two: its name across the table, its
   * figures under their headings below, so a narrow sidebar keeps room for the name.
   */
  private _rows(
    { record, index }: IRow,
    notebook: Notebook | null,
    clusters: boolean
  ): HTMLElement[] {
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
    const kept = element('td', 'jp-oomguard-cell-kept', signedBytes(record.ram_delta));
    if (!clusters) {
      row.append(what, peak, kept);
      return [row];
    }
    what.colSpan = 4;
    row.append(what);
    const figures = element('tr', 'jp-oomguard-cell-figures');
    figures.dataset.status = record.status;
    figures.append(element('td', ''), peak, kept, this._clusterCell(record));
    return [row, figures];
  }

  /** The cluster's sampled peak above the start; empty for a cell without a cluster. */
  private _clusterCell(record: ICellRecord): HTMLElement {
    const cluster = record.cluster;
    const cell = element(
      'td',
      'jp-oomguard-cell-cluster',
      cluster ? signedBytes(clusterPeakDelta(cluster)) : ''
    );
    if (cluster) {
      cell.title = this.trans.__(
        "the %1 cluster's sampled peak: its workers' memory, a heartbeat old",
        cluster.engine
      );
    }
    return cell;
  }

  private _sortKey: SortKey = 'peak';
  /** What the rows are sorted by: the key, unless its column is not shown. */
  private _sortsBy: SortKey = 'peak';
  private _descending = true;
  private _running = element('div', 'jp-oomguard-running');
  private _table = element('table', 'jp-oomguard-cell-table');
  private _body = element('tbody', '');
  private _more = element('div', 'jp-oomguard-cells-more');
}
