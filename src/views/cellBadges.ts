import type { Cell } from '@jupyterlab/cells';
import type { NotebookPanel } from '@jupyterlab/notebook';
import { TranslationBundle } from '@jupyterlab/translation';
import { IDisposable } from '@lumino/disposable';
import { formatBytes, percentOf } from '../format';
import { CellsChange } from '../model/cellsModel';
import { IPostMortem, MemoryModel } from '../model/memoryModel';
import { ReadingsChange } from '../model/readingsModel';
import { ICellRecord } from '../protocol';
import { cellFigures } from './cellFigures';
import { clusterLines, clusterTitle, IBadgeLine } from './clusterText';
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
  /** Lines under the figures: the cluster's workers restarted or lost, and why not measured. */
  lines?: IBadgeLine[];
}

/**
 * A compact memory badge under each executed cell of one notebook: RAM change, peak
 * above the start, VRAM change, the cluster's growth and sampled peak, duration; under
 * them, a line for each cluster worker restarted or lost, marked as a problem. The
 * badge lives in the cell widget's node, so windowing (which detaches cells scrolled
 * out of view but keeps their nodes) keeps it. Moving a cell makes a new widget for the
 * same cell id: the badges are kept per id and drawn again on the new widget. A re-run
 * replaces the badge.
 */
export class CellBadges implements IDisposable {
  constructor(
    private _panel: NotebookPanel,
    private _model: MemoryModel,
    private _trans: TranslationBundle
  ) {
    _model.cells.changed.connect(this._onCells, this);
    _model.readings.changed.connect(this._onReadings, this);
    _model.postMortems.changed.connect(this._onDeath, this);
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
    this._model.cells.changed.disconnect(this._onCells, this);
    this._model.readings.changed.disconnect(this._onReadings, this);
    this._model.postMortems.changed.disconnect(this._onDeath, this);
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

  private _onCells(_: unknown, change: CellsChange): void {
    if (change.kind === 'running') {
      if (change.cell) {
        this._showRunning(change.cell.cell_id);
      } else {
        this._runningBadge = null;
      }
    } else if (change.kind === 'record') {
      this._showRecord(change.record);
    }
  }

  private _onReadings(_: unknown, change: ReadingsChange): void {
    if (change === 'thresholds') {
      this._recolour();
    } else if (change === 'sample' && this._runningBadge) {
      // Live while the cell runs: what the kernel holds now.
      const rss = this._model.readings.latest?.rss ?? null;
      setText(this._runningBadge, this._trans.__('running · kernel RAM %1', formatBytes(rss)));
    }
  }

  private _onDeath(_: unknown, postMortem: IPostMortem): void {
    this._showDeath(postMortem);
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
    const readings = this._model.readings;
    const limit = readings.latest?.limit;
    const cluster = record.cluster;
    const title = trans.__(
      'Memory of this run (oomguard): peak %1 of the %2 limit; %3',
      formatBytes(record.ram_peak),
      formatBytes(limit),
      record.peak_method === 'hwm' ? trans.__('exact peak') : trans.__('sampled peak')
    );
    this._set(cell, {
      text: parts.join(' · '),
      state: record.status,
      percent: percentOf(record.ram_peak, limit),
      severity: readings.severity(percentOf(record.ram_peak, limit)),
      title: cluster ? `${title}\n${clusterTitle(cluster, trans)}` : title,
      lines: cluster ? clusterLines(cluster, trans) : []
    });
  }

  private _showDeath(postMortem: IPostMortem): void {
    this._runningBadge = null;
    const cell = cellById(this._panel.content, postMortem.cell_id);
    const shown = this._deaths.get(postMortem.id);
    if (cell && (!shown || this._states.get(cell.model.id) === shown)) {
      // Drawn at the death, then again as the next kernel tells more (unless the cell
      // has run again since).
      const state: IBadgeState = {
        // Under the cell itself: its execution count is gone from its prompt by now.
        text: [
          deathMessage(postMortem, this._trans, this._trans.__('this cell')),
          ...postMortemDetails(postMortem, this._trans)
        ].join(' '),
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
      this._deaths.set(postMortem.id, state);
      this._set(cell, state);
    }
  }

  private _recolour(): void {
    for (const state of this._states.values()) {
      if (state.percent !== undefined) {
        state.severity = this._model.readings.severity(state.percent);
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
    const lines = state.lines ?? [];
    if (lines.some(line => line.problem)) {
      badge.dataset.problem = 'true';
    } else {
      delete badge.dataset.problem;
    }
    if (!lines.length) {
      setText(badge, state.text);
    } else if (!showsLines(badge, state.text, lines)) {
      // Lines of their own, so that each worker reads as one item; drawn again only
      // when they changed, as the badge is a live region.
      badge.replaceChildren(
        element('div', 'jp-oomguard-badge-figures', state.text),
        ...lines.map(line =>
          element(
            'div',
            line.problem ? 'jp-oomguard-badge-problem' : 'jp-oomguard-badge-line',
            line.text
          )
        )
      );
    }
    return badge;
  }

  private _badgeOf(cell: Cell): HTMLElement {
    let badge = cell.node.querySelector<HTMLElement>(`:scope > .${BADGE_CLASS}`);
    if (!badge) {
      badge = element('div', BADGE_CLASS);
      // Status text: read out when it changes (a run's figures, a death), named as ours.
      badge.setAttribute('role', 'status');
      badge.setAttribute('aria-label', this._trans.__('Memory of this cell (oomguard)'));
      cell.node.appendChild(badge);
    }
    return badge;
  }

  private _states = new Map<string, IBadgeState>();
  private _runningBadge: HTMLElement | null = null;
  /** What each death's badge showed (by post-mortem id): updated while it stays. */
  private _deaths = new Map<number, IBadgeState>();
  private _isDisposed = false;
}

/** Whether the badge shows these figures and lines already. */
function showsLines(badge: HTMLElement, text: string, lines: IBadgeLine[]): boolean {
  const shown = badge.children;
  return (
    shown.length === lines.length + 1 &&
    shown[0].textContent === text &&
    lines.every((line, i) => shown[i + 1].textContent === line.text)
  );
}
