import { ISignal, Signal } from '@lumino/signaling';
import { ILeakHint, IWarningMessage } from '../protocol';
import type { ICellReference } from './cellsModel';
import { trimOldest } from './readingsModel';

/**
 * - `warning`: a pre-run warning came (a cell predicted not to fit; blocked, maybe).
 * - `hints`: the leak hints changed (or were forgotten with the kernel).
 */
export type WarningsChange =
  | { kind: 'warning'; warning: IWarningMessage }
  | { kind: 'hints' };

const DEFAULT_MAX_WARNINGS = 2000;

/**
 * What the shim warned about: cells predicted, before they ran, to exceed free memory
 * (oldest first, bounded), and the current leak hints with the cell after which they
 * showed. The edit-time predictions are CellPredictions' business.
 */
export class WarningsModel {
  constructor(options: { maxWarnings?: number } = {}) {
    this._maxWarnings = options.maxWarnings ?? DEFAULT_MAX_WARNINGS;
  }

  get changed(): ISignal<this, WarningsChange> {
    return this._changed;
  }

  /** Pre-run warnings, oldest first. */
  get warnings(): readonly IWarningMessage[] {
    return this._warnings;
  }

  /** The shim's current leak hints (empty when nothing keeps growing). */
  get hints(): readonly ILeakHint[] {
    return this._hints;
  }

  /** The last cell that had ended when the hints came: where the growth showed. */
  get hintsAfter(): ICellReference | null {
    return this._hintsAfter;
  }

  add(warning: IWarningMessage): void {
    this._warnings.push(warning);
    trimOldest(this._warnings, this._maxWarnings);
    this._changed.emit({ kind: 'warning', warning });
  }

  setHints(hints: readonly ILeakHint[], after: ICellReference | null): void {
    this._hints = hints;
    this._hintsAfter = after
      ? { execution_count: after.execution_count, cell_id: after.cell_id }
      : null;
    this._changed.emit({ kind: 'hints' });
  }

  /** The namespace the hints were about is gone (a restart, another kernel). */
  clearHints(): void {
    if (this._hints.length === 0 && this._hintsAfter === null) {
      return;
    }
    this.setHints([], null);
  }

  private _changed = new Signal<this, WarningsChange>(this);
  private _warnings: IWarningMessage[] = [];
  private _hints: readonly ILeakHint[] = [];
  private _hintsAfter: ICellReference | null = null;
  private _maxWarnings: number;
}
