import type { ICellRecord, IRunningCell, ISampleMessage } from '../protocol';

/**
 * The session's memory over time, bounded however long the session runs.
 *
 * Recent points are kept as they came. Older ones are folded into time buckets
 * that keep each series' minimum and maximum (and when each happened), so a
 * one-second spike from twenty hours ago is still drawn at its true height. When
 * the buckets grow too many, their width doubles and neighbours merge: memory
 * stays at a few thousand points for a day of 1 Hz samples, or a week.
 *
 * Pure data, no DOM: the chart reads `data()` in the column layout uPlot takes.
 */

/** One reading: epoch seconds and a value (bytes, or null: not measured) per series. */
export interface ITimelinePoint {
  t: number;
  values: Record<string, number | null>;
}

/** A cell's execution, epoch seconds; `end` null while it runs. */
export interface ICellSpan {
  execution_count: number | null;
  cell_id: string | null;
  start: number;
  end: number | null;
}

/** Columns for uPlot: times, then one column per key of `keys`, aligned. */
export interface ITimelineColumns {
  keys: readonly string[];
  data: [number[], ...(number | null)[][]];
}

export interface ITimelineOptions {
  /** Points kept as they came (default 1,200: twenty minutes at 1 Hz). */
  recent?: number;
  /** Buckets kept for older points; each draws as two points (default 1,024). */
  buckets?: number;
  /** Starting bucket width, seconds (default 10); doubles as needed. */
  bucketSeconds?: number;
  /** Cell spans kept (default 5,000). */
  spans?: number;
}

/** What views read of a timeline; it changes only through the model that owns it. */
export type IReadonlyTimeline = Pick<
  TimelineSeries,
  'data' | 'spans' | 'spanAt' | 'extremes' | 'version' | 'spanVersion' | 'keys' | 'size'
>;

/** Series keys a sample feeds. */
export const RSS = 'rss';
export const LIMIT = 'limit';
export const gpuUsedKey = (index: number): string => `gpu${index}`;
/** The workers' memory of the cluster the kernel drives, and their limits together. */
export const CLUSTER = 'cluster';
export const CLUSTER_LIMIT = 'clusterLimit';

/**
 * The figures of a kernel sample the timeline keeps. The cluster's only while samples
 * carry one: a sample without (no Client in the namespace) or with `memory: null` (the
 * scheduler did not answer) leaves a gap in its line.
 */
export function pointFromSample(sample: ISampleMessage): ITimelinePoint {
  const values: Record<string, number | null> = {
    [RSS]: sample.rss,
    [LIMIT]: sample.limit
  };
  for (const gpu of sample.gpus ?? []) {
    values[gpuUsedKey(gpu.index)] = gpu.used;
  }
  if (sample.cluster) {
    values[CLUSTER] = sample.cluster.memory;
    values[CLUSTER_LIMIT] = sample.cluster.limit;
  }
  return { t: sample.t, values };
}

export function spanFromRecord(record: ICellRecord): ICellSpan {
  return {
    execution_count: record.execution_count,
    cell_id: record.cell_id,
    start: record.start,
    end: record.start + Math.max(0, record.duration)
  };
}

export function spanFromRunning(running: IRunningCell): ICellSpan {
  return { ...running, end: null };
}

/** A series' extremes within one bucket, with their times so order is kept. */
interface IExtremes {
  min: number;
  tMin: number;
  max: number;
  tMax: number;
}

interface IBucket {
  start: number;
  extremes: Map<string, IExtremes>;
}

export class TimelineSeries {
  constructor(options: ITimelineOptions = {}) {
    this._recentMax = Math.max(2, options.recent ?? 1200);
    this._bucketMax = Math.max(2, options.buckets ?? 1024);
    this._bucketWidth = Math.max(1e-3, options.bucketSeconds ?? 10);
    this._spanMax = Math.max(1, options.spans ?? 5000);
  }

  /** Bumps on every change of points, so a view redraws only when needed. */
  get version(): number {
    return this._version;
  }

  /** Bumps when spans change. */
  get spanVersion(): number {
    return this._spanVersion;
  }

  /** Series keys in the order they first appeared. */
  get keys(): readonly string[] {
    return this._keys;
  }

  /** Points held (recent ones plus two per bucket): the memory bound. */
  get size(): number {
    return this._recent.length + 2 * this._buckets.length;
  }

  /** Current bucket width, seconds. */
  get bucketSeconds(): number {
    return this._bucketWidth;
  }

  /** Time of the newest point, or null. */
  get lastTime(): number | null {
    return this._recent.length ? this._recent[this._recent.length - 1].t : null;
  }

  /** Cell spans, oldest first (finished ones only; the running cell is the model's). */
  get spans(): readonly ICellSpan[] {
    return this._spans;
  }

  /** Add the newest reading. An out-of-order one is inserted where it belongs. */
  add(point: ITimelinePoint): void {
    if (!Number.isFinite(point.t)) {
      return;
    }
    this._noteKeys(point);
    const last = this.lastTime;
    if (last === null || point.t > last) {
      this._recent.push(point);
    } else {
      this._insertRecentOrOld(point);
    }
    this._spill();
    this._changed();
  }

  /**
   * Add readings from the past (e.g. back-filled from a spool after the kernel
   * died), in any order. Each lands in time order; a reading at a time already held
   * among the recent points is skipped, so overlapping back-fills do not double up.
   */
  insert(points: readonly ITimelinePoint[]): void {
    const sorted = points
      .filter(p => Number.isFinite(p.t))
      .sort((a, b) => a.t - b.t);
    for (const point of sorted) {
      this._noteKeys(point);
      this._insertRecentOrOld(point);
    }
    this._spill();
    this._changed();
  }

  /** Record a finished cell; a span with the same start and cell replaces the old. */
  addSpan(span: ICellSpan): void {
    if (!Number.isFinite(span.start)) {
      return;
    }
    const spans = this._spans;
    let i = spans.length;
    while (i > 0 && spans[i - 1].start > span.start) {
      i--;
    }
    const before = spans[i - 1];
    if (before && before.start === span.start && before.cell_id === span.cell_id) {
      spans[i - 1] = span;
    } else {
      spans.splice(i, 0, span);
      if (spans.length > this._spanMax) {
        spans.splice(0, spans.length - this._spanMax);
      }
    }
    this._spanVersion++;
  }

  /** The span covering time `t` (the latest-starting one), or null. */
  spanAt(t: number, spans: readonly ICellSpan[] = this._spans): ICellSpan | null {
    const after = firstIndexWhere(spans, span => span.start > t);
    const end = this.lastTime ?? t;
    for (let i = after - 1; i >= 0 && i >= after - 8; i--) {
      const span = spans[i];
      if (t <= (span.end ?? end)) {
        return span;
      }
    }
    return null;
  }

  /** The points as aligned columns, oldest first; cached until the next change. */
  data(): ITimelineColumns {
    if (this._cache && this._cacheVersion === this._version) {
      return this._cache;
    }
    const keys = this._keys;
    const times: number[] = [];
    const columns: (number | null)[][] = keys.map(() => []);
    const buckets = this._buckets;
    buckets.forEach((bucket, b) => {
      // Each bucket draws as two points, at its start and its middle, carrying each
      // series' extremes in the order they happened. The middle stays before the
      // next point, which may lie inside this bucket's span: times must increase.
      const next = buckets[b + 1]?.start ?? this._recent[0]?.t ?? Infinity;
      const middle = Math.min(
        bucket.start + this._bucketWidth / 2,
        (bucket.start + next) / 2
      );
      times.push(bucket.start, middle);
      keys.forEach((key, k) => {
        const e = bucket.extremes.get(key);
        if (!e) {
          columns[k].push(null, null);
        } else if (e.tMin <= e.tMax) {
          columns[k].push(e.min, e.max);
        } else {
          columns[k].push(e.max, e.min);
        }
      });
    });
    for (const point of this._recent) {
      times.push(point.t);
      keys.forEach((key, k) => columns[k].push(point.values[key] ?? null));
    }
    this._cache = { keys: keys.slice(), data: [times, ...columns] };
    this._cacheVersion = this._version;
    return this._cache;
  }

  /** Smallest and largest value of a series over everything held. */
  extremes(key: string): { min: number; max: number } | null {
    let min = Infinity;
    let max = -Infinity;
    for (const bucket of this._buckets) {
      const e = bucket.extremes.get(key);
      if (e) {
        min = Math.min(min, e.min);
        max = Math.max(max, e.max);
      }
    }
    for (const point of this._recent) {
      const v = point.values[key];
      if (v !== null && v !== undefined) {
        min = Math.min(min, v);
        max = Math.max(max, v);
      }
    }
    return min <= max ? { min, max } : null;
  }

  private _noteKeys(point: ITimelinePoint): void {
    for (const key of Object.keys(point.values)) {
      if (!this._keySet.has(key)) {
        this._keySet.add(key);
        this._keys.push(key);
      }
    }
  }

  private _insertRecentOrOld(point: ITimelinePoint): void {
    const recent = this._recent;
    const oldest = recent.length ? recent[0].t : Infinity;
    if (point.t < oldest && this._buckets.length) {
      this._fold(point);
      return;
    }
    const lo = firstIndexWhere(recent, p => p.t >= point.t);
    if (lo < recent.length && recent[lo].t === point.t) {
      return;
    }
    recent.splice(lo, 0, point);
  }

  /** Move the oldest recent points into buckets, then keep the buckets bounded. */
  private _spill(): void {
    const excess = this._recent.length - this._recentMax;
    if (excess > 0) {
      for (const point of this._recent.splice(0, excess)) {
        this._fold(point);
      }
    }
    while (this._buckets.length > this._bucketMax) {
      this._coarsen();
    }
  }

  /** Fold a point into the bucket its time falls in, making one if needed. */
  private _fold(point: ITimelinePoint): void {
    const width = this._bucketWidth;
    const start = Math.floor(point.t / width) * width;
    const buckets = this._buckets;
    let i = buckets.length;
    while (i > 0 && buckets[i - 1].start > start) {
      i--;
    }
    let bucket = buckets[i - 1];
    if (!bucket || bucket.start !== start) {
      bucket = { start, extremes: new Map() };
      buckets.splice(i, 0, bucket);
    }
    for (const [key, value] of Object.entries(point.values)) {
      if (value === null || value === undefined || !Number.isFinite(value)) {
        continue;
      }
      merge(bucket.extremes, key, {
        min: value,
        tMin: point.t,
        max: value,
        tMax: point.t
      });
    }
  }

  /** Double the bucket width, merging neighbours: extremes survive, detail halves. */
  private _coarsen(): void {
    const width = this._bucketWidth * 2;
    const merged: IBucket[] = [];
    for (const bucket of this._buckets) {
      const start = Math.floor(bucket.start / width) * width;
      let target = merged[merged.length - 1];
      if (!target || target.start !== start) {
        target = { start, extremes: new Map() };
        merged.push(target);
      }
      for (const [key, e] of bucket.extremes) {
        merge(target.extremes, key, e);
      }
    }
    this._bucketWidth = width;
    this._buckets = merged;
  }

  private _changed(): void {
    this._version++;
  }

  private _recent: ITimelinePoint[] = [];
  private _buckets: IBucket[] = [];
  private _spans: ICellSpan[] = [];
  private _keys: string[] = [];
  private _keySet = new Set<string>();
  private _recentMax: number;
  private _bucketMax: number;
  private _bucketWidth: number;
  private _spanMax: number;
  private _version = 0;
  private _spanVersion = 0;
  private _cache: ITimelineColumns | null = null;
  private _cacheVersion = -1;
}

/**
 * Binary search: the index of the first item for which `test` holds, or
 * `items.length` if none does. `test` must be false for a prefix of `items` and true
 * for the rest, as tests on time are for points and for spans (ordered by start and
 * not overlapping, so their ends increase too).
 */
export function firstIndexWhere<T>(items: readonly T[], test: (item: T) => boolean): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (test(items[mid])) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

function merge(into: Map<string, IExtremes>, key: string, e: IExtremes): void {
  const held = into.get(key);
  if (!held) {
    into.set(key, { ...e });
    return;
  }
  if (e.min < held.min) {
    held.min = e.min;
    held.tMin = e.tMin;
  }
  if (e.max > held.max) {
    held.max = e.max;
    held.tMax = e.tMax;
  }
}
