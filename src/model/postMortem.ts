/**
 * What the model learns about a kernel death after the fact, from the kernel that
 * replaces it: whether the OOM killer's count for the session's memory cgroup rose
 * (the kernel's own word, no guessing from figures), and the readings the browser
 * missed between its last sample and the death, from the dead kernel's spool.
 *
 * Pure functions over plain data; the model (memoryModel.ts) owns the state.
 */
import {
  ICellRecord,
  IHelloMessage,
  ISampleMessage,
  ISpoolMessage,
  PROTOCOL_VERSION
} from '../protocol';

/**
 * - `pending`: the dead kernel had a counter; the next kernel's hello settles it.
 * - `confirmed`: the count rose across the restart.
 * - `not-confirmed`: the count is where it was: no process of the cgroup was OOM-killed.
 * - `unknown`: no counter to compare (see `reason`).
 */
export type OomKillState = 'pending' | 'confirmed' | 'not-confirmed' | 'unknown';

export interface IOomKillCheck {
  state: OomKillState;
  /** The count last seen from the dead kernel (null: it had no counter). */
  before: number | null;
  /** The count the next kernel said hello with (null: none yet, or no counter). */
  after: number | null;
  /** The file the dead kernel read it from (memory.events or memory.oom_control). */
  file: string | null;
  /** Why `unknown`: no counter, or the new kernel counts for another cgroup. */
  reason: 'no-counter' | 'other-cgroup' | null;
  /** The file the next kernel read (kept to settle again with a newer `before`). */
  afterFile?: string | null;
}

/**
 * - `none`: the dead kernel never said hello (no pid to ask about).
 * - `waiting`: until the next kernel says hello; `due` then, until the request is sent;
 *   `requested` until the answer; `done` or `failed` (with a note) after.
 */
export type BackfillState = 'none' | 'waiting' | 'due' | 'requested' | 'done' | 'failed';

export interface IBackfill {
  state: BackfillState;
  /** Samples and cell records added from the spool. */
  samples: number;
  cells: number;
  /** The kernel thinned the samples to fit one answer. */
  truncated: boolean;
  /** Why nothing came, in the kernel's or our words. */
  note: string | null;
}

/** What the last reading before a death said: the kernel's and the session's memory. */
export interface IReadingAtDeath {
  /** The kernel process's resident set (bytes; null: not measured). */
  rss: number | null;
  /** What counted against the session's limit: cgroup or machine use (null: not measured). */
  used: number | null;
  limit: number | null;
  /** What counted against the limit (else the kernel's own) was within 10% of it. */
  outOfMemoryLikely: boolean;
}

export function readingAtDeath(last: ISampleMessage | null): IReadingAtDeath {
  const rss = last?.rss ?? null;
  const used = last?.used ?? null;
  const limit = last?.limit ?? null;
  const counted = used ?? rss;
  return {
    rss,
    used,
    limit,
    outOfMemoryLikely: counted !== null && limit !== null && counted >= 0.9 * limit
  };
}

/** The count as the dead kernel last reported it: its newest sample, else its hello. */
export function oomKillCheckAtDeath(
  hello: IHelloMessage | null,
  last: ISampleMessage | null
): IOomKillCheck {
  const before = last?.oom_kills ?? hello?.oom_kills ?? null;
  return {
    state: before === null ? 'unknown' : 'pending',
    before,
    after: null,
    file: hello?.oom_kills_file ?? null,
    reason: before === null ? 'no-counter' : null
  };
}

/** Compare with the next kernel's count; `after` and `afterFile` from its hello. */
export function settleOomKillCheck(
  check: IOomKillCheck,
  after: number | null,
  afterFile: string | null
): IOomKillCheck {
  const settled = { ...check, after, afterFile, reason: null };
  if (check.before === null || after === null) {
    return { ...settled, state: 'unknown', reason: 'no-counter' };
  }
  if (afterFile !== check.file) {
    return { ...settled, state: 'unknown', reason: 'other-cgroup' };
  }
  return { ...settled, state: after > check.before ? 'confirmed' : 'not-confirmed' };
}

/** The memory cgroup's own high-water mark, as the next kernel read it. */
export interface ICgroupPeak {
  bytes: number;
  /** memory.max_usage_in_bytes (v1) or memory.peak (v2), with its path. */
  file: string;
}

/**
 * The figure to tell after an OOM kill that the count confirmed: the group's high-water
 * mark (it reached its limit then, whatever the last sample, up to a second older,
 * showed). Only then: the mark is the group's since it was made or reset, so after
 * another kind of death it may be an older cell's.
 */
export function cgroupPeakAfterDeath(
  check: IOomKillCheck,
  hello: IHelloMessage
): ICgroupPeak | null {
  const bytes = hello.cgroup_peak ?? null;
  const file = hello.cgroup_peak_file ?? null;
  if (check.state !== 'confirmed' || bytes === null || file === null) {
    return null;
  }
  return { bytes, file };
}

export function settleOnHello(check: IOomKillCheck, hello: IHelloMessage): IOomKillCheck {
  if (check.state !== 'pending') {
    return check;
  }
  return settleOomKillCheck(check, hello.oom_kills ?? null, hello.oom_kills_file ?? null);
}

/** The spool's samples as model samples, marked as back-filled. */
export function spooledSamples(message: ISpoolMessage): ISampleMessage[] {
  return message.samples.map(body => ({
    ...body,
    v: PROTOCOL_VERSION,
    type: 'sample' as const,
    from_spool: true
  }));
}

/**
 * Put `extra` samples into `samples` (oldest first) where their times belong, skipping
 * times already there. Returns the samples added, oldest first.
 */
export function insertSamples(
  samples: ISampleMessage[],
  extra: readonly ISampleMessage[]
): ISampleMessage[] {
  const seen = new Set(samples.map(sample => sample.t));
  const added = extra.filter(sample => !seen.has(sample.t));
  if (added.length) {
    samples.push(...added);
    samples.sort((a, b) => a.t - b.t); // stable: equal times keep their order
  }
  return added.sort((a, b) => a.t - b.t);
}

/** Same for cell records: a record is the same cell when its start and count match. */
export function insertCells(
  cells: ICellRecord[],
  extra: readonly ICellRecord[]
): ICellRecord[] {
  const key = (cell: ICellRecord) => `${cell.start}/${cell.execution_count}`;
  const seen = new Set(cells.map(key));
  const added = extra.filter(cell => !seen.has(key(cell)));
  if (added.length) {
    cells.push(...added);
    cells.sort((a, b) => a.start - b.start);
  }
  return added;
}
