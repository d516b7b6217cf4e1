import { ISignal, Signal } from '@lumino/signaling';
import { ICellRecord, IRunningCell } from '../protocol';
import { insertCells } from './postMortem';
import { trimOldest } from './readingsModel';

/** A cell as the kernel knows it: JupyterLab's cell id, and the run's execution count. */
export interface ICellReference {
  cell_id: string | null;
  execution_count: number | null;
}

/**
 * - `running`: a cell started, or the running cell changed as samples tell it (null:
 *   none runs now, or the kernel died under it).
 * - `record`: a cell ended; its record is the newest.
 * - `backfill`: records a dead kernel spooled, put in time order among the others.
 */
export type CellsChange =
  | { kind: 'running'; cell: IRunningCell | null }
  | { kind: 'record'; record: ICellRecord }
  | { kind: 'backfill'; records: readonly ICellRecord[] };

const DEFAULT_MAX_CELLS = 2000;

/**
 * The cells the kernel ran: the one running now, the records of those that ended
 * (oldest first, bounded), and each notebook cell's latest record, so that the whole
 * notebook can be ranked by what its cells cost however long ago they ran.
 */
export class CellsModel {
  constructor(options: { maxCells?: number } = {}) {
    this._maxCells = options.maxCells ?? DEFAULT_MAX_CELLS;
  }

  get changed(): ISignal<this, CellsChange> {
    return this._changed;
  }

  /** The cell running now, or null when the kernel runs none (or we don't know). */
  get running(): IRunningCell | null {
    return this._running;
  }

  /** Records of executed cells, oldest first, re-runs included. */
  get records(): readonly ICellRecord[] {
    return this._records;
  }

  /** The newest record, or null before the first cell ends. */
  get last(): ICellRecord | null {
    return this._records.length ? this._records[this._records.length - 1] : null;
  }

  /**
   * One record per cell, its latest run's (a re-run replaces it), in no given order;
   * records that name neither a cell id nor an execution count are not in it.
   */
  get latestPerCell(): readonly ICellRecord[] {
    if (!this._latestList) {
      this._latestList = [...this._latest.values()];
    }
    return this._latestList;
  }

  /** A cell started (`cell_start`). */
  start(cell: IRunningCell): void {
    this._running = cell;
    this._changed.emit({ kind: 'running', cell });
  }

  /**
   * What a sample says runs now, which also heals a missed `cell_start` or `cell`.
   * Said only when it differs from what we knew.
   */
  heal(cell: IRunningCell | null): void {
    const now = this._running;
    if (
      now === cell ||
      (now &&
        cell &&
        now.start === cell.start &&
        now.cell_id === cell.cell_id &&
        now.execution_count === cell.execution_count)
    ) {
      return;
    }
    this._running = cell;
    this._changed.emit({ kind: 'running', cell });
  }

  /**
   * The running cell will not end with a record (the kernel went): forget it, and
   * return it.
   */
  stopRunning(): IRunningCell | null {
    const running = this._running;
    if (running) {
      this._running = null;
      this._changed.emit({ kind: 'running', cell: null });
    }
    return running;
  }

  /** A cell ended: its record is the newest, and the running cell is no more. */
  add(record: ICellRecord): void {
    this._running = null;
    this._records.push(record);
    trimOldest(this._records, this._maxCells);
    this._keepLatest(record);
    this._changed.emit({ kind: 'record', record });
  }

  /** Records from a dead kernel's spool: returns those not already here. */
  insert(records: readonly ICellRecord[]): ICellRecord[] {
    const added = insertCells(this._records, records);
    trimOldest(this._records, this._maxCells);
    added.forEach(record => this._keepLatest(record));
    if (added.length) {
      this._changed.emit({ kind: 'backfill', records: added });
    }
    return added;
  }

  /** Keep the record as its cell's latest unless a later run of the cell is there. */
  private _keepLatest(record: ICellRecord): void {
    const key = cellKey(record);
    if (key === null) {
      return;
    }
    const kept = this._latest.get(key);
    if (kept && kept.start > record.start) {
      return;
    }
    // Deleted and set again: the map's order is the order of the cells' last runs, so
    // the least recently run go first when it is full.
    this._latest.delete(key);
    this._latest.set(key, record);
    if (this._latest.size > this._maxCells) {
      this._latest.delete(this._latest.keys().next().value as string);
    }
    this._latestList = null;
  }

  private _changed = new Signal<this, CellsChange>(this);
  private _running: IRunningCell | null = null;
  private _records: ICellRecord[] = [];
  private _latest = new Map<string, ICellRecord>();
  private _latestList: readonly ICellRecord[] | null = null;
  private _maxCells: number;
}

/** What tells one notebook cell from another: its id, else its execution count. */
function cellKey(cell: ICellReference): string | null {
  if (cell.cell_id) {
    return `id:${cell.cell_id}`;
  }
  return cell.execution_count === null ? null : `count:${cell.execution_count}`;
}
