import { TranslationBundle } from '@jupyterlab/translation';
import { IDisposable } from '@lumino/disposable';
import { ISignal } from '@lumino/signaling';
import { INotebookMemory } from '../tokens';
import { element } from './dom';

let sectionIds = 0;

/**
 * One part of the Memory panel: it owns its DOM, listens to the parts of the notebook's
 * memory model it shows, and renders when one of them changed, not otherwise. While
 * the panel is hidden it only notes that it is behind, and renders once shown.
 *
 * A region with its title as accessible name, so screen readers list it as a landmark
 * and tests find it by role.
 */
export abstract class Section implements IDisposable {
  readonly node: HTMLElement;

  constructor(
    protected trans: TranslationBundle,
    className: string,
    title: string
  ) {
    this.node = element('section', `jp-oomguard-section ${className}`);
    const heading = element('h3', 'jp-oomguard-label', title);
    heading.id = `jp-oomguard-section-${++sectionIds}`;
    this.node.setAttribute('aria-labelledby', heading.id);
    this.node.appendChild(heading);
  }

  /** The notebook whose memory is shown, or null. */
  get memory(): INotebookMemory | null {
    return this._memory;
  }

  set memory(memory: INotebookMemory | null) {
    if (memory === this._memory) {
      return;
    }
    this._unwatch();
    this._memory = memory;
    if (memory) {
      this.listen(memory);
    }
    this.update();
  }

  /** Whether the panel is on screen; a section shown again catches up. */
  get shown(): boolean {
    return this._shown;
  }

  set shown(shown: boolean) {
    this._shown = shown;
    if (shown && this._behind) {
      this.update();
    }
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Draw from `memory`; called only when something it shows changed. */
  abstract render(): void;

  /** Release what outlives the DOM (observers, timers, listeners on window). */
  dispose(): void {
    this._isDisposed = true;
    this._unwatch();
  }

  /** Connect to the signals of what this section shows (with `watch`). */
  protected abstract listen(memory: INotebookMemory): void;

  /** Listen to `signal` while this notebook's memory is shown. */
  protected watch<T, U>(signal: ISignal<T, U>, slot: (sender: T, args: U) => void): void {
    signal.connect(slot, this);
    this._watched.push(() => signal.disconnect(slot, this));
  }

  /** Render now if on screen, else once shown. */
  protected update(): void {
    if (this._isDisposed) {
      return;
    }
    if (!this._shown) {
      this._behind = true;
      return;
    }
    this._behind = false;
    this.render();
  }

  private _unwatch(): void {
    this._watched.forEach(disconnect => disconnect());
    this._watched = [];
  }

  private _memory: INotebookMemory | null = null;
  private _watched: (() => void)[] = [];
  private _shown = true;
  private _behind = false;
  private _isDisposed = false;
}

/** Label/value rows, rebuilt on each render (a handful of rows: cheap). */
export function detailRows(rows: [string, string][]): HTMLElement[] {
  return rows.map(([label, value]) => {
    const row = element('div', 'jp-oomguard-detail');
    row.append(
      element('span', 'jp-oomguard-detail-label', label),
      element('span', 'jp-oomguard-detail-value', value)
    );
    return row;
  });
}

/** A horizontal gauge whose fill is a share of 100%, named for screen readers. */
export function gauge(percent: number | null, severity: string, label = ''): HTMLElement {
  const bar = element('div', 'jp-oomguard-bar');
  const fill = element('div', 'jp-oomguard-bar-fill');
  fill.style.width = `${Math.min(100, percent ?? 0)}%`;
  fill.dataset.severity = severity;
  bar.appendChild(fill);
  if (label && percent !== null) {
    bar.setAttribute('role', 'meter');
    bar.setAttribute('aria-label', label);
    bar.setAttribute('aria-valuemin', '0');
    bar.setAttribute('aria-valuemax', '100');
    bar.setAttribute('aria-valuenow', String(Math.round(Math.min(100, percent))));
  }
  return bar;
}

/**
 * A gauge that a section draws anew on each render, in the same place: its role and
 * value follow the share (no meter while it is not measured).
 */
export class GaugeSlot {
  get node(): HTMLElement {
    return this._node;
  }

  show(percent: number | null, severity: string, label: string): void {
    const bar = gauge(percent, severity, label);
    this._node.replaceWith(bar);
    this._node = bar;
  }

  private _node = gauge(null, 'unknown');
}
