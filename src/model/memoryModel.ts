import { ISignal, Signal } from '@lumino/signaling';
import { Severity, severityOf } from '../format';
import { CellPredictions } from './cellPredictions';
import {
  ICellRecord,
  IHelloMessage,
  ILeakHint,
  IRunningCell,
  ISampleMessage,
  ISizesMessage,
  ISpoolMessage,
  IVariablesMessage,
  IWarningMessage,
  parseKernelMessage,
  PROTOCOL_VERSION
} from '../protocol';
import { pointFromSample, spanFromRecord, TimelineSeries } from './timelineSeries';
import {
  IBackfill,
  insertCells,
  insertSamples,
  cgroupPeakAfterDeath,
  ICgroupPeak,
  IOomKillCheck,
  IReadingAtDeath,
  oomKillCheckAtDeath,
  readingAtDeath,
  settleOnHello,
  settleOomKillCheck,
  spooledSamples
} from './postMortem';

/**
 * Where the link to a notebook's kernel stands. Every state but `connected` comes
 * with a message for the user that says what is wrong and what to do.
 */
export type ConnectionState =
  | 'no-kernel'
  | 'connecting'
  | 'connected'
  /** Auto-attach is off (a setting) and the user has not attached this notebook yet. */
  | 'detached'
  | 'waiting'
  | 'not-python'
  | 'missing'
  | 'incompatible'
  | 'disconnected'
  | 'dead'
  | 'error';

export interface IConnectionStatus {
  state: ConnectionState;
  /** Plain text for the user; empty when connected. */
  message: string;
}

/**
 * What we knew when the kernel died under a running cell: the last reading before the
 * death (`rss` the kernel's, `used` the session's against its `limit`; see
 * IReadingAtDeath) and what was learnt after.
 */
export interface IPostMortem extends IReadingAtDeath {
  execution_count: number | null;
  cell_id: string | null;
  /** Browser time of the death, ms. */
  at: number;
  /** The dead kernel's pid (from its hello), null when it never said hello. */
  pid: number | null;
  /** `t` of the last sample the browser received from it (epoch s). */
  lastSampleAt: number | null;
  /** Where rss/used/limit come from: the browser's last sample, or the spool's newer one. */
  readingFrom: 'browser' | 'spool';
  /**
   * What the memory cgroup reached, its own high-water mark, once the next kernel said
   * hello after an OOM kill it confirmed: a better figure than any sample (null: none).
   */
  cgroupPeak: ICgroupPeak | null;
  /** Did the cgroup's OOM-kill count rise? Settled by the next kernel's hello. */
  oomKill: IOomKillCheck;
  /** The readings the browser missed, fetched from the dead kernel's spool. */
  backfill: IBackfill;
}

export type MemoryChange =
  | 'status'
  | 'hello'
  | 'sample'
  | 'error'
  | 'cell'
  | 'variables'
  | 'hints'
  | 'postmortem'
  | 'warning'
  | 'thresholds';

/** Percentages of a limit at which figures turn amber and red (user settings). */
export interface IThresholds {
  warnPercent: number;
  criticalPercent: number;
}

export const DEFAULT_THRESHOLDS: IThresholds = { warnPercent: 80, criticalPercent: 95 };

/** Keep an hour of 1 Hz samples; the full timeline comes with the charts. */
const DEFAULT_MAX_SAMPLES = 3600;
const DEFAULT_MAX_CELLS = 2000;

/**
 * The memory state of one notebook's kernel: connection status, the shim's hello,
 * and the samples it has sent. It owns the state and says when it changes; the
 * connection feeds it and the views render it.
 */
export class MemoryModel {
  constructor(options: { maxSamples?: number; maxCells?: number } = {}) {
    this._maxSamples = options.maxSamples ?? DEFAULT_MAX_SAMPLES;
    this._maxCells = options.maxCells ?? DEFAULT_MAX_CELLS;
  }

  get changed(): ISignal<this, MemoryChange> {
    return this._changed;
  }

  /**
   * How many times these kinds of change have happened. Views that rebuild lists
   * compare it between renders: the arrays themselves are changed in place.
   */
  changeCount(...kinds: MemoryChange[]): number {
    return kinds.reduce((sum, kind) => sum + (this._changeCounts.get(kind) ?? 0), 0);
  }

  /** Predictions for cells as they are edited; they signal their own changes. */
  readonly predictions = new CellPredictions();

  /** Where figures turn amber and red; views colour through `severity`. */
  get thresholds(): IThresholds {
    return this._thresholds;
  }

  set thresholds(thresholds: IThresholds) {
    this._thresholds = { ...thresholds };
    this._emit('thresholds');
  }

  /** The severity of a share of a limit, against this model's thresholds. */
  severity(percent: number | null): Severity {
    return severityOf(
      percent,
      this._thresholds.warnPercent,
      this._thresholds.criticalPercent
    );
  }

  get status(): IConnectionStatus {
    return this._status;
  }

  get hello(): IHelloMessage | null {
    return this._hello;
  }

  /** The newest sample, or null before the first one. */
  get latest(): ISampleMessage | null {
    return this._samples.length
      ? this._samples[this._samples.length - 1]
      : null;
  }

  /** Samples oldest first, at most `maxSamples` of them. */
  get samples(): readonly ISampleMessage[] {
    return this._samples;
  }

  /** Records of executed cells, oldest first. */
  get cells(): readonly ICellRecord[] {
    return this._cells;
  }

  /** The whole session's RAM and VRAM over time, decimated, with cell spans. */
  get timeline(): TimelineSeries {
    return this._timeline;
  }

  /** The cell running now, or null when the kernel runs none (or we don't know). */
  get runningCell(): IRunningCell | null {
    return this._runningCell;
  }

  /** The last variable scan the kernel sent, or null before the first. */
  get variables(): IVariablesMessage | null {
    return this._variables;
  }

  /** The namespace's sizes after the last cell, or null before the first. */
  get sizes(): ISizesMessage | null {
    return this._sizes;
  }

  /** The look before `sizes`: growth is measured between the two. */
  get previousSizes(): ISizesMessage | null {
    return this._previousSizes;
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

  /** The last cell that had ended when the hints came: where the growth showed. */
  get hintsAfter(): { execution_count: number | null; cell_id: string | null } | null {
    return this._hintsAfter;
  }

  /** The shim's current leak hints (empty when nothing keeps growing). */
  get hints(): readonly ILeakHint[] {
    return this._hints;
  }

  /** Pre-run warnings (cells predicted to exceed free memory), oldest first. */
  get warnings(): readonly IWarningMessage[] {
    return this._warnings;
  }

  /** Cells that were running when their kernel died, oldest first. */
  get postMortems(): readonly IPostMortem[] {
    return this._postMortems;
  }

  /**
   * The kernel died (or the server restarted it after it died). If a cell was running,
   * keep what we last saw of it: that is the user's only clue to why.
   */
  recordKernelDeath(): IPostMortem | null {
    const running = this._runningCell;
    this._runningCell = null;
    if (!running) {
      return null;
    }
    const last = this.latest;
    const postMortem: IPostMortem = {
      execution_count: running.execution_count,
      cell_id: running.cell_id,
      ...readingAtDeath(last),
      at: Date.now(),
      pid: this._hello?.pid ?? null,
      lastSampleAt: last?.t ?? null,
      readingFrom: 'browser',
      cgroupPeak: null,
      oomKill: oomKillCheckAtDeath(this._hello, last),
      backfill: {
        state: this._hello ? 'waiting' : 'none',
        samples: 0,
        cells: 0,
        truncated: false,
        note: null
      }
    };
    this._postMortems.push(postMortem);
    this._emit('postmortem');
    return postMortem;
  }

  /** When the newest sample arrived (browser clock, ms), or null. */
  get lastReceivedAt(): number | null {
    return this._lastReceivedAt;
  }

  /** The last problem the shim reported, if any. */
  get shimError(): string | null {
    return this._shimError;
  }

  /** Messages refused since the model was made (for diagnostics and tests). */
  get rejectedCount(): number {
    return this._rejected;
  }

  /** Messages kept in part (a field left out or cut) since the model was made. */
  get repairedCount(): number {
    return this._repaired;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  setStatus(state: ConnectionState, message = ''): void {
    if (this._status.state === state && this._status.message === message) {
      return;
    }
    this._status = { state, message };
    this._emit('status');
  }

  /** Forget the kernel-specific state when the notebook gets another kernel. */
  resetKernel(): void {
    this._hello = null;
    this._shimError = null;
    this._runningCell = null;
    this._forgetKernelState();
    this._emit('hello');
  }

  /** The kernel process is going away (a restart or a death). */
  kernelGone(): void {
    this._forgetKernelState();
  }

  /**
   * What described the namespace of a kernel that is gone: a restart keeps the kernel
   * connection (no kernelChanged), so a new process is told by a hello with a new pid.
   * Samples, cells and post-mortems stay: they are the session's history. So does the
   * running cell: JupyterLab reports an automatic restart as 'restarting' just before
   * 'autorestarting', and the death is recorded against the cell at the second.
   */
  private _forgetKernelState(): void {
    this._variables = null;
    this._sizes = null;
    this._previousSizes = null;
    this._hints = [];
    this._hintsAfter = null;
    this.predictions.clear();
    this._emit('variables');
    this._emit('hints');
  }

  /**
   * Take a message from the kernel: what is valid of it, field by field (what was left
   * out or cut is said in a console warning). A message that cannot be used at all is
   * dropped with a warning; one of another protocol version marks the link incompatible.
   */
  handleMessage(data: unknown): void {
    if (this._isDisposed) {
      return;
    }
    const parsed = parseKernelMessage(data);
    if (!parsed.ok) {
      this._rejected++;
      console.warn(`oomguard: dropped a message from the kernel: ${parsed.reason}`);
      if (parsed.versionMismatch !== undefined) {
        this.setStatus(
          'incompatible',
          `The kernel's oomguard speaks protocol v${parsed.versionMismatch}; this ` +
            `extension speaks v${PROTOCOL_VERSION}. Install the same version in ` +
            'both: pip install -U oomguard'
        );
      }
      return;
    }
    const message = parsed.message;
    if (parsed.problems.length) {
      this._repaired++;
      console.warn(
        `oomguard: kept what was valid of a ${message.type} message from the kernel: ` +
          parsed.problems.join('; ')
      );
    }
    switch (message.type) {
      case 'hello':
        if (this._hello && this._hello.pid !== message.pid) {
          this._forgetKernelState();
        }
        this._hello = message;
        this._emit('hello');
        this.setStatus('connected');
        this._helloAfterDeath(message);
        break;
      case 'spool':
        this._mergeSpool(message);
        break;
      case 'sample':
        this._addSample(message);
        break;
      case 'error':
        this._shimError = message.message;
        this._emit('error');
        break;
      case 'cell_start':
        this._runningCell = {
          execution_count: message.execution_count,
          cell_id: message.cell_id,
          start: message.start
        };
        this._emit('cell');
        break;
      case 'cell':
        this._runningCell = null;
        this._cells.push(message.record);
        this._timeline.addSpan(spanFromRecord(message.record));
        trimOldest(this._cells, this._maxCells);
        this._emit('cell');
        break;
      case 'variables':
        this._variables = message;
        this._emit('variables');
        break;
      case 'sizes':
        this._previousSizes = this._sizes;
        this._sizes = message;
        this._emit('variables');
        break;
      case 'hints': {
        const last = this._cells[this._cells.length - 1];
        this._hintsAfter = last
          ? { execution_count: last.execution_count, cell_id: last.cell_id }
          : null;
        this._hints = message.hints;
        this._emit('hints');
        break;
      }
      case 'warning':
        this._warnings.push(message);
        trimOldest(this._warnings, this._maxCells);
        this._emit('warning');
        break;
      case 'prediction':
        this.predictions.accept(message); // stale answers are ignored there
        break;
    }
  }

  private _emit(change: MemoryChange): void {
    this._changeCounts.set(change, (this._changeCounts.get(change) ?? 0) + 1);
    this._changed.emit(change);
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    Signal.clearData(this);
  }

  /**
   * The `spool` request to send now, if a kernel died under a cell and its successor
   * has said hello: the dead kernel's pid and the time of the last sample we have.
   * Marks it requested, so it is asked for once.
   */
  takeSpoolRequest(): { pid: number; since: number | null } | null {
    const postMortem = this._postMortems.find(pm => pm.backfill.state === 'due');
    if (!postMortem || postMortem.pid === null) {
      return null;
    }
    postMortem.backfill = { ...postMortem.backfill, state: 'requested' };
    this._emit('postmortem');
    return { pid: postMortem.pid, since: postMortem.lastSampleAt };
  }

  /** A `spool` request went unanswered (an older shim in the new kernel). */
  spoolUnanswered(pid: number, note: string): void {
    const postMortem = this._postMortems.find(
      pm => pm.pid === pid && pm.backfill.state === 'requested'
    );
    if (postMortem) {
      postMortem.backfill = { ...postMortem.backfill, state: 'failed', note };
      this._emit('postmortem');
    }
  }

  /** A dead kernel's successor: settle the OOM check, and ask for the spool. */
  private _helloAfterDeath(hello: IHelloMessage): void {
    let changed = false;
    for (const postMortem of this._postMortems) {
      if (postMortem.oomKill.state === 'pending') {
        postMortem.oomKill = settleOnHello(postMortem.oomKill, hello);
        postMortem.cgroupPeak = cgroupPeakAfterDeath(postMortem.oomKill, hello);
        postMortem.outOfMemoryLikely ||= postMortem.cgroupPeak !== null;
        changed = true;
      }
      if (postMortem.backfill.state === 'waiting') {
        postMortem.backfill = { ...postMortem.backfill, state: 'due' };
        changed = true;
      }
    }
    if (changed) {
      this._emit('postmortem');
    }
  }

  /**
   * The samples and cells a dead kernel spooled after our last sample: merged in time
   * order (marked `from_spool`), and the spool's last reading, newer than the browser's,
   * becomes the post-mortem's "died at".
   */
  private _mergeSpool(message: ISpoolMessage): void {
    const postMortem = [...this._postMortems]
      .reverse()
      .find(pm => pm.pid === message.pid && pm.backfill.state === 'requested');
    if (!postMortem) {
      return; // not asked for, or asked for twice
    }
    const added = insertSamples(this._samples, spooledSamples(message));
    trimOldest(this._samples, this._maxSamples);
    this._timeline.insert(added.map(pointFromSample));
    const cells = insertCells(this._cells, message.cells);
    for (const cell of cells) {
      this._timeline.addSpan(spanFromRecord(cell));
    }
    trimOldest(this._cells, this._maxCells);
    postMortem.backfill = {
      state: message.note === null ? 'done' : 'failed',
      samples: added.length,
      cells: cells.length,
      truncated: message.truncated,
      note: message.note
    };
    const last = added.length ? added[added.length - 1] : null;
    if (last && (postMortem.lastSampleAt === null || last.t > postMortem.lastSampleAt)) {
      Object.assign(postMortem, readingAtDeath(last));
      postMortem.readingFrom = 'spool';
      const check = postMortem.oomKill;
      if (typeof last.oom_kills === 'number' && check.state !== 'pending') {
        // The spool's count is the latest before the death: compare from it.
        postMortem.oomKill = settleOomKillCheck(
          { ...check, before: last.oom_kills },
          check.after,
          check.afterFile ?? null
        );
      }
      if (postMortem.oomKill.state !== 'confirmed') {
        postMortem.cgroupPeak = null; // the mark may be an older cell's
      }
      postMortem.outOfMemoryLikely ||= postMortem.cgroupPeak !== null;
    }
    if (added.length) {
      this._emit('sample');
    }
    if (cells.length) {
      this._emit('cell');
    }
    this._emit('postmortem');
  }

  private _addSample(sample: ISampleMessage): void {
    this._samples.push(sample);
    this._timeline.add(pointFromSample(sample));
    this._lastReceivedAt = Date.now();
    trimOldest(this._samples, this._maxSamples);
    if (sample.running_cell !== undefined) {
      // Samples say what runs now, which also heals a missed cell_start or cell.
      this._runningCell = sample.running_cell;
    }
    if (this._status.state === 'waiting') {
      this.setStatus('connected');
    }
    this._emit('sample');
  }

  private _changed = new Signal<this, MemoryChange>(this);
  private _changeCounts = new Map<MemoryChange, number>();
  private _thresholds: IThresholds = { ...DEFAULT_THRESHOLDS };
  private _status: IConnectionStatus = { state: 'no-kernel', message: '' };
  private _hello: IHelloMessage | null = null;
  private _samples: ISampleMessage[] = [];
  private _shimError: string | null = null;
  private _lastReceivedAt: number | null = null;
  private _rejected = 0;
  private _repaired = 0;
  private _cells: ICellRecord[] = [];
  private _timeline = new TimelineSeries();
  private _runningCell: IRunningCell | null = null;
  private _variables: IVariablesMessage | null = null;
  private _hints: ILeakHint[] = [];
  private _hintsAfter: { execution_count: number | null; cell_id: string | null } | null =
    null;
  private _sizes: ISizesMessage | null = null;
  private _previousSizes: ISizesMessage | null = null;
  private _postMortems: IPostMortem[] = [];
  private _warnings: IWarningMessage[] = [];
  private _maxSamples: number;
  private _maxCells: number;
  private _isDisposed = false;
}

function trimOldest<T>(items: T[], max: number): void {
  if (items.length > max) {
    items.splice(0, items.length - max);
  }
}
