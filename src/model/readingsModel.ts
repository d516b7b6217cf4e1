import { ISignal, Signal } from '@lumino/signaling';
import { Severity, severityOf } from '../format';
import { ICellRecord, IHelloMessage, ISampleMessage } from '../protocol';
import type { ICellReference } from './cellsModel';
import { insertSamples } from './postMortem';
import {
  IReadonlyTimeline,
  pointFromSample,
  spanFromRecord,
  TimelineSeries
} from './timelineSeries';

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
  /** The cell the message is about (the one that was running when the kernel died). */
  cell?: ICellReference | null;
}

/** Percentages of a limit at which figures turn amber and red (user settings). */
export interface IThresholds {
  warnPercent: number;
  criticalPercent: number;
}

export const DEFAULT_THRESHOLDS: IThresholds = { warnPercent: 80, criticalPercent: 95 };

/**
 * - `status`, `hello`, `error`: the link and what the shim said about itself.
 * - `sample`: new readings (one live, or a dead kernel's spooled ones).
 * - `spans`: cells were added to the timeline.
 * - `thresholds`: where figures turn amber and red moved.
 */
export type ReadingsChange = 'status' | 'hello' | 'error' | 'sample' | 'spans' | 'thresholds';

/** Keep an hour of 1 Hz samples; the whole session is in the timeline. */
const DEFAULT_MAX_SAMPLES = 3600;

/**
 * The kernel's memory readings and the link they come over: the connection status, the
 * shim's hello and last error, the samples (bounded), the session's timeline, and the
 * thresholds the readings are coloured by. What the gauges, the status bar and the
 * chart show.
 */
export class ReadingsModel {
  constructor(options: { maxSamples?: number } = {}) {
    this._maxSamples = options.maxSamples ?? DEFAULT_MAX_SAMPLES;
  }

  get changed(): ISignal<this, ReadingsChange> {
    return this._changed;
  }

  get status(): IConnectionStatus {
    return this._status;
  }

  get hello(): IHelloMessage | null {
    return this._hello;
  }

  /** The last problem the shim reported, if any. */
  get shimError(): string | null {
    return this._shimError;
  }

  /** The newest sample, or null before the first one. */
  get latest(): ISampleMessage | null {
    return this._samples.length ? this._samples[this._samples.length - 1] : null;
  }

  /** Samples oldest first, at most `maxSamples` of them. */
  get samples(): readonly ISampleMessage[] {
    return this._samples;
  }

  /** When the newest sample arrived (browser clock, ms), or null. */
  get lastReceivedAt(): number | null {
    return this._lastReceivedAt;
  }

  /**
   * The whole session's RAM and VRAM over time, decimated, with cell spans. Read it;
   * it changes through this model only (`sample` and `spans` say when).
   */
  get timeline(): IReadonlyTimeline {
    return this._timeline;
  }

  /** Where figures turn amber and red; views colour through `severity`. */
  get thresholds(): IThresholds {
    return this._thresholds;
  }

  set thresholds(thresholds: IThresholds) {
    const now = this._thresholds;
    if (
      now.warnPercent === thresholds.warnPercent &&
      now.criticalPercent === thresholds.criticalPercent
    ) {
      return;
    }
    this._thresholds = { ...thresholds };
    this._changed.emit('thresholds');
  }

  /** The severity of a share of a limit, against the thresholds. */
  severity(percent: number | null): Severity {
    return severityOf(percent, this._thresholds.warnPercent, this._thresholds.criticalPercent);
  }

  setStatus(state: ConnectionState, message = '', cell: ICellReference | null = null): void {
    const now = this._status;
    const same = (a: ICellReference | null, b: ICellReference | null) =>
      a === b ||
      (a !== null && b !== null && a.cell_id === b.cell_id && a.execution_count === b.execution_count);
    if (now.state === state && now.message === message && same(now.cell ?? null, cell)) {
      return;
    }
    this._status = cell
      ? { state, message, cell: { cell_id: cell.cell_id, execution_count: cell.execution_count } }
      : { state, message };
    this._changed.emit('status');
  }

  /** The shim's hello; a new one (null: the kernel went) forgets the old one's error. */
  setHello(hello: IHelloMessage | null): void {
    // A restarted kernel's hello often arrives with no null before it: its pid tells.
    if (hello === null || hello.pid !== this._hello?.pid) {
      this._shimError = null;
    }
    this._hello = hello;
    this._changed.emit('hello');
  }

  setError(message: string): void {
    this._shimError = message;
    this._changed.emit('error');
  }

  /** A live sample: kept, drawn on the timeline, and proof that the link works. */
  add(sample: ISampleMessage): void {
    this._samples.push(sample);
    this._timeline.add(pointFromSample(sample));
    this._lastReceivedAt = Date.now();
    trimOldest(this._samples, this._maxSamples);
    if (this._status.state === 'waiting') {
      this.setStatus('connected');
    }
    this._changed.emit('sample');
  }

  /**
   * Older samples (a dead kernel's spool) put where their times belong, skipping times
   * already here. Returns those added, oldest first.
   */
  insert(samples: readonly ISampleMessage[]): ISampleMessage[] {
    const added = insertSamples(this._samples, samples);
    trimOldest(this._samples, this._maxSamples);
    if (added.length) {
      this._timeline.insert(added.map(pointFromSample));
      this._changed.emit('sample');
    }
    return added;
  }

  /** Cells that ran, shaded on the timeline. */
  addSpans(records: readonly ICellRecord[]): void {
    if (!records.length) {
      return;
    }
    records.forEach(record => this._timeline.addSpan(spanFromRecord(record)));
    this._changed.emit('spans');
  }

  private _changed = new Signal<this, ReadingsChange>(this);
  private _status: IConnectionStatus = { state: 'no-kernel', message: '' };
  private _hello: IHelloMessage | null = null;
  private _shimError: string | null = null;
  private _samples: ISampleMessage[] = [];
  private _lastReceivedAt: number | null = null;
  private _timeline = new TimelineSeries();
  private _thresholds: IThresholds = { ...DEFAULT_THRESHOLDS };
  private _maxSamples: number;
}

/** Drop the oldest items beyond `max` (the arrays are this folder's models' own). */
export function trimOldest<T>(items: T[], max: number): void {
  if (items.length > max) {
    items.splice(0, items.length - max);
  }
}
