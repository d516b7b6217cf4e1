import type { Cell } from '@jupyterlab/cells';
import type { NotebookPanel } from '@jupyterlab/notebook';
import { TranslationBundle } from '@jupyterlab/translation';
import { IDisposable } from '@lumino/disposable';
import { formatBytes, percentOf } from '../format';
import { IPostMortem, MemoryChange, MemoryModel } from '../model/memoryModel';
import { ICellRecord } from '../protocol';
import { cellFigures } from './cellFigures';
import { cellById } from './findCell';
import { element, setText } from './dom';
import { deathMessage, postMortemDetails } from './postMortemText';

const BADGE_CLASS = 'jp-oomguard-badge';

/** What a badge shows, kept per cell id so it can be drawn again on a new widget. */
interface IBadgeState {
  text: string;
  state: string;
  severity: string;
  title: string;
  /** The peak's share of the limit, kept to colour again when thresholds change. */
  percent?: number | null;
}

/**
 * A compact memory badge under each executed cell of one notebook: RAM change, peak
 * above the start, VRAM change, duration. The badge lives in the cell widget's node,
 * so windowing (which detaches cells scrolled out of view but keeps their nodes)
 * keeps it. Moving a cell makes a new widget for the same cell id: the badges are
 * kept per id and drawn again on the new widget. A re-run replaces the badge.
 */
export class CellBadges implements IDisposable {
  constructor(
    private _panel: NotebookPanel,
    private _model: MemoryModel,
    private _trans: TranslationBundle
  ) {
    _model.changed.connect(this._onChange, this);
    _panel.content.model?.cells.changed.connect(this._onCellsChanged, this);
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._model.changed.disconnect(this._onChange, this);
    this._panel.content.model?.cells.changed.disconnect(this._onCellsChanged, this);
  }

  private _onCellsChanged(): void {
    // The notebook makes the new cell widgets in its own handler of this signal: draw
    // once it is done.
    window.setTimeout(() => {
      if (this._isDisposed) {
        return;
      }
      for (const cell of this._panel.content.widgets) {
        const state = this._states.get(cell.model.id);
        if (state) {
          this._draw(cell, state);
        }
      }
    }, 0);
  }

  private _onChange(model: MemoryModel, change: MemoryChange): void {
    if (change === 'cell') {
      const running = model.runningCell;
      if (running) {
        this._showRunning(running.cell_id);
      } else if (model.cells.length) {
        this._showRecord(model.cells[model.cells.length - 1]);
      }
    } else if (change === 'thresholds') {
      this._recolour();
    } else if (change === 'postmortem') {
      this._showDeath(model.postMortems[model.postMortems.length - 1]);
    } else if (change === 'sample' && this._runningBadge) {
      // Live while the cell runs: what the kernel holds now.
      const rss = model.latest?.rss ?? null;
      setText(this._runningBadge, this._trans.__('running · kernel RAM %1', formatBytes(rss)));
    }
  }

  private _showRunning(cellId: string | null): void {
    const cell = cellById(this._panel.content, cellId);
    if (!cell) {
      return;
    }
    this._runningBadge = this._set(cell, {
      text: this._trans.__('running…'),
      state: 'running',
      severity: 'unknown',
      title: ''
    });
  }

  private _showRecord(record: ICellRecord): void {
    this._runningBadge = null;
    const cell = cellById(this._panel.content, record.cell_id);
    if (!cell) {
      return;
    }
    const trans = this._trans;
    const parts = cellFigures(record, trans);
    const limit = this._model.latest?.limit;
    this._set(cell, {
      text: parts.join(' · '),
      state: record.status,
      percent: percentOf(record.ram_peak, limit),
      severity: this._model.severity(percentOf(record.ram_peak, limit)),
      title: trans.__(
        'Memory of this run (oomguard): peak %1 of the %2 limit; %3',
        formatBytes(record.ram_peak),
        formatBytes(limit),
        record.peak_method === 'hwm' ? trans.__('exact peak') : trans.__('sampled peak')
      )
    });
  }

  private _showDeath(postMortem: IPostMortem): void {
    this._runningBadge = null;
    const cell = cellById(this._panel.content, postMortem.cell_id);
    const shown = this._deaths.get(postMortem);
    if (cell && (!shown || this._states.get(cell.model.id) === shown)) {
      // Drawn at the death, then again as the next kernel tells more (unless the cell
      // has run again since).
      const state: IBadgeState = {
        text: [deathMessage(postMortem, this._trans), ...postMortemDetails(postMortem, this._trans)].join(' '),
        state: 'died',
        // The cgroup's count may include other kernels of the container: on its own
        // it says "an OOM kill happened here", not "this kernel was it".
        severity: postMortem.outOfMemoryLikely
          ? 'critical'
          : postMortem.oomKill.state === 'confirmed'
            ? 'warn'
            : 'unknown',
        title: ''
      };
      this._deaths.set(postMortem, state);
      this._set(cell, state);
    }
  }

  private _recolour(): void {
    for (const state of this._states.values()) {
      if (state.percent !== undefined) {
        state.severity = this._model.severity(state.percent);
      }
    }
    this._onCellsChanged();
  }

  private _set(cell: Cell, state: IBadgeState): HTMLElement {
    this._states.set(cell.model.id, state);
    return this._draw(cell, state);
  }

  private _draw(cell: Cell, state: IBadgeState): HTMLElement {
    const badge = this._badgeOf(cell);
    badge.dataset.state = state.state;
    badge.dataset.severity = state.severity;
    badge.title = state.title;
    setText(badge, state.text);
    return badge;
  }

  private _badgeOf(cell: Cell): HTMLElement {
    let badge = cell.node.querySelector<HTMLElement>(`:scope > .${BADGE_CLASS}`);
    if (!badge) {
      badge = element('div', BADGE_CLASS);
      cell.node.appendChild(badge);
    }
    return badge;
  }

  private _states = new Map<string, IBadgeState>();
  private _runningBadge: HTMLElement | null = null;
  private _deaths = new WeakMap<IPostMortem, IBadgeState>();
  private _isDisposed = false;
}
