import { ISignal, Signal } from '@lumino/signaling';
import { IPredictionMessage } from '../protocol';

/** The kernel's latest prediction for one cell, and the source it was made for. */
export interface ICellPrediction {
  cellId: string;
  source: string;
  message: IPredictionMessage;
}

/** An answer that judged nothing: the kernel's note says why (a cell was running...). */
export interface IUnjudgedPrediction {
  cellId: string;
  source: string;
  note: string;
}

/**
 * Predictions for cells as they are edited (`predict` / `prediction` messages).
 *
 * Answers come back in order but late: the user may have typed again, or sent a newer
 * request, before the kernel answers. Only the answer to the newest request of a cell
 * is kept, and only while the cell's source is still the one that was sent; anything
 * else is stale and ignored. An answer with a note and no findings judged nothing
 * ("a cell is running", "another prediction is still being made"): it ends the request
 * but is not kept as the cell's prediction, so the cell is not shown as clear and the
 * front end may ask again. `changed` emits the id of a cell whose prediction was set
 * or dropped, or whose request ended; `cleared` says every request and answer is gone.
 */
export class CellPredictions {
  get changed(): ISignal<this, string> {
    return this._changed;
  }

  /** Everything was forgotten (another kernel, or a restart): pending requests too. */
  get cleared(): ISignal<this, void> {
    return this._cleared;
  }

  /** The prediction for the cell's current source, or null. */
  get(cellId: string): ICellPrediction | null {
    return this._latest.get(cellId) ?? null;
  }

  /** The newest answer for the cell's current source when it judged nothing, or null. */
  unjudged(cellId: string): IUnjudgedPrediction | null {
    return this._unjudged.get(cellId) ?? null;
  }

  /** Whether a request for exactly this source of the cell awaits its answer. */
  isPending(cellId: string, source: string): boolean {
    return this._pending.get(cellId)?.source === source;
  }

  /** Request `id` was sent for the cell's `source`: earlier requests are stale now. */
  requested(cellId: string, id: number, source: string): void {
    this._pending.set(cellId, { id, source });
  }

  /**
   * The cell's source is now `source`. An answer or a pending request for another
   * source no longer applies to what the user sees.
   */
  sourceChanged(cellId: string, source: string): void {
    if (this._pending.get(cellId)?.source !== source) {
      this._pending.delete(cellId);
    }
    if (this._unjudged.get(cellId)?.source !== source) {
      this._unjudged.delete(cellId);
    }
    const latest = this._latest.get(cellId);
    if (latest && latest.source !== source) {
      this._latest.delete(cellId);
      this._changed.emit(cellId);
    }
  }

  /** Take an answer from the kernel; false (and nothing changes) when it is stale. */
  accept(message: IPredictionMessage): boolean {
    const cellId = message.cell_id;
    const pending = cellId === null ? undefined : this._pending.get(cellId);
    if (cellId === null || !pending || pending.id !== message.id) {
      return false;
    }
    this._pending.delete(cellId);
    if (message.note && message.findings.length === 0) {
      // Nothing was judged: a judged answer kept for this text still stands.
      this._unjudged.set(cellId, { cellId, source: pending.source, note: message.note });
    } else {
      this._unjudged.delete(cellId);
      this._latest.set(cellId, { cellId, source: pending.source, message });
    }
    this._changed.emit(cellId);
    return true;
  }

  /** Forget everything (another kernel: its namespace, its answers, its requests). */
  clear(): void {
    const cellIds = new Set([
      ...this._latest.keys(),
      ...this._pending.keys(),
      ...this._unjudged.keys()
    ]);
    this._pending.clear();
    this._latest.clear();
    this._unjudged.clear();
    cellIds.forEach(cellId => this._changed.emit(cellId));
    this._cleared.emit();
  }

  private _changed = new Signal<this, string>(this);
  private _cleared = new Signal<this, void>(this);
  private _pending = new Map<string, { id: number; source: string }>();
  private _latest = new Map<string, ICellPrediction>();
  private _unjudged = new Map<string, IUnjudgedPrediction>();
}
