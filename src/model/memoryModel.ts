import { ISignal, Signal } from '@lumino/signaling';
import {
  ICellRecord,
  IHelloMessage,
  ILeakHint,
  IRunningCell,
  ISampleMessage,
  IVariablesMessage,
  IWarningMessage,
  parseKernelMessage,
  PROTOCOL_VERSION
} from '../protocol';

/**
 * Where the link to a notebook's kernel stands. Every state but `connected` comes
 * with a message for the user that says what is wrong and what to do.
 */
export type ConnectionState =
  | 'no-kernel'
  | 'connecting'
  | 'connected'
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

/** What we knew when the kernel died under a running cell. */
export interface IPostMortem {
  execution_count: number | null;
  cell_id: string | null;
  /** The last readings before the death (bytes; null when never measured). */
  rss: number | null;
  used: number | null;
  limit: number | null;
  /** Browser time of the death, ms. */
  at: number;
  /** The last reading was within 10% of the limit: the OOM killer is the likely cause. */
  outOfMemoryLikely: boolean;
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
  | 'warning';

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

  /** The cell running now, or null when the kernel runs none (or we don't know). */
  get runningCell(): IRunningCell | null {
    return this._runningCell;
  }

  /** The last variable scan the kernel sent, or null before the first. */
  get variables(): IVariablesMessage | null {
    return this._variables;
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
    const used = last?.used ?? last?.rss ?? null;
    const limit = last?.limit ?? null;
    const postMortem: IPostMortem = {
      execution_count: running.execution_count,
      cell_id: running.cell_id,
      rss: last?.rss ?? null,
      used,
      limit,
      at: Date.now(),
      outOfMemoryLikely: used !== null && limit !== null && used >= 0.9 * limit
    };
    this._postMortems.push(postMortem);
    this._changed.emit('postmortem');
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

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  setStatus(state: ConnectionState, message = ''): void {
    if (this._status.state === state && this._status.message === message) {
      return;
    }
    this._status = { state, message };
    this._changed.emit('status');
  }

  /** Forget the kernel-specific state when the notebook gets another kernel. */
  resetKernel(): void {
    this._hello = null;
    this._shimError = null;
    this._runningCell = null;
    this._variables = null;
    this._hints = [];
    this._changed.emit('hello');
  }

  /**
   * Take a message from the kernel. Malformed messages are dropped with a console
   * warning; a message of another protocol version marks the link incompatible.
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
    switch (message.type) {
      case 'hello':
        this._hello = message;
        this._changed.emit('hello');
        this.setStatus('connected');
        break;
      case 'sample':
        this._addSample(message);
        break;
      case 'error':
        this._shimError = message.message;
        this._changed.emit('error');
        break;
      case 'cell_start':
        this._runningCell = {
          execution_count: message.execution_count,
          cell_id: message.cell_id,
          start: message.start
        };
        this._changed.emit('cell');
        break;
      case 'cell':
        this._runningCell = null;
        this._cells.push(message.record);
        trimOldest(this._cells, this._maxCells);
        this._changed.emit('cell');
        break;
      case 'variables':
        this._variables = message;
        this._changed.emit('variables');
        break;
      case 'hints':
        this._hints = message.hints;
        this._changed.emit('hints');
        break;
      case 'warning':
        this._warnings.push(message);
        trimOldest(this._warnings, this._maxCells);
        this._changed.emit('warning');
        break;
    }
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    Signal.clearData(this);
  }

  private _addSample(sample: ISampleMessage): void {
    this._samples.push(sample);
    this._lastReceivedAt = Date.now();
    trimOldest(this._samples, this._maxSamples);
    if (sample.running_cell !== undefined) {
      // Samples say what runs now, which also heals a missed cell_start or cell.
      this._runningCell = sample.running_cell;
    }
    if (this._status.state === 'waiting') {
      this.setStatus('connected');
    }
    this._changed.emit('sample');
  }

  private _changed = new Signal<this, MemoryChange>(this);
  private _status: IConnectionStatus = { state: 'no-kernel', message: '' };
  private _hello: IHelloMessage | null = null;
  private _samples: ISampleMessage[] = [];
  private _shimError: string | null = null;
  private _lastReceivedAt: number | null = null;
  private _rejected = 0;
  private _cells: ICellRecord[] = [];
  private _runningCell: IRunningCell | null = null;
  private _variables: IVariablesMessage | null = null;
  private _hints: ILeakHint[] = [];
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
