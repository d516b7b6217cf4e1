import { ISignal, Signal } from '@lumino/signaling';
import { ISizesMessage, IVariablesMessage } from '../protocol';

/**
 * - `scan`: a variable scan came (or was forgotten with the kernel).
 * - `sizes`: the namespace's sizes after a cell came: growth changed.
 */
export type VariablesChange = 'scan' | 'sizes';

/**
 * The kernel's variables: the last scan (on request: it is not free), and the sizes the
 * shim sends after each cell, off the cell's path. Growth is the difference of the
 * last two looks.
 */
export class VariablesModel {
  get changed(): ISignal<this, VariablesChange> {
    return this._changed;
  }

  /** The last variable scan the kernel sent, or null before the first. */
  get scan(): IVariablesMessage | null {
    return this._scan;
  }

  /** The namespace's sizes after the last cell, or null before the first. */
  get sizes(): ISizesMessage | null {
    return this._sizes;
  }

  /** The look before `sizes`: growth is measured between the two. */
  get previousSizes(): ISizesMessage | null {
    return this._previousSizes;
  }

  setScan(scan: IVariablesMessage): void {
    this._scan = scan;
    this._changed.emit('scan');
  }

  addSizes(sizes: ISizesMessage): void {
    this._previousSizes = this._sizes;
    this._sizes = sizes;
    this._changed.emit('sizes');
  }

  /** The namespace they described is gone (a restart, another kernel). */
  clear(): void {
    const had = this._scan !== null || this._sizes !== null || this._previousSizes !== null;
    this._scan = null;
    this._sizes = null;
    this._previousSizes = null;
    if (had) {
      this._changed.emit('scan');
      this._changed.emit('sizes');
    }
  }

  /**
   * What a variable grew by between the last two looks after a cell, in bytes
   * (negative when it shrank); 'new' when it was not there before; null when
   * either size is not known.
   */
  growthOf(name: string): number | 'new' | null {
    const own = (sizes: Record<string, number | null>) =>
      Object.prototype.hasOwnProperty.call(sizes, name);
    const now = this._sizes && own(this._sizes.sizes) ? this._sizes.sizes[name] : null;
    const before = this._previousSizes;
    if (now === null || !before) {
      return null;
    }
    if (!own(before.sizes)) {
      // A cut-short look may simply have missed it.
      return before.truncated ? null : 'new';
    }
    const then = before.sizes[name];
    return then === null ? null : now - then;
  }

  private _changed = new Signal<this, VariablesChange>(this);
  private _scan: IVariablesMessage | null = null;
  private _sizes: ISizesMessage | null = null;
  private _previousSizes: ISizesMessage | null = null;
}
