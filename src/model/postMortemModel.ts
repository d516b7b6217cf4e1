import { ISignal, Signal } from '@lumino/signaling';
import { IHelloMessage, IRunningCell, ISampleMessage, ISpoolMessage } from '../protocol';
import {
  cgroupPeakAfterDeath,
  IBackfill,
  ICgroupPeak,
  IOomKillCheck,
  IReadingAtDeath,
  oomKillCheckAtDeath,
  readingAtDeath,
  settleOnHello,
  settleOomKillCheck
} from './postMortem';

/**
 * What we knew when the kernel died under a running cell: the last reading before the
 * death (`rss` the kernel's, `used` the session's against its `limit`; see
 * IReadingAtDeath) and what was learnt after. Never changed in place: a new object
 * replaces it, with the same `id`.
 */
export interface IPostMortem extends IReadingAtDeath {
  /** Tells this death from the others of the notebook, across its updates. */
  readonly id: number;
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

/**
 * The deaths of a notebook's kernels under running cells, oldest first, and what the
 * next kernel tells about each: whether the OOM killer did it, and the readings the
 * browser missed (the spool request and its answer). `changed` gives the post-mortem
 * that is new or was updated.
 */
export class PostMortemModel {
  get changed(): ISignal<this, IPostMortem> {
    return this._changed;
  }

  get all(): readonly IPostMortem[] {
    return this._all;
  }

  /** The newest, or null when no kernel of this notebook died under a cell. */
  get latest(): IPostMortem | null {
    return this._all.length ? this._all[this._all.length - 1] : null;
  }

  /**
   * The kernel died under `running`: keep what we last saw of it (its hello and last
   * sample), the user's only clue to why.
   */
  record(
    running: IRunningCell,
    hello: IHelloMessage | null,
    last: ISampleMessage | null
  ): IPostMortem {
    const postMortem: IPostMortem = {
      id: ++this._ids,
      execution_count: running.execution_count,
      cell_id: running.cell_id,
      ...lastReading(last, oomKillCheckAtDeath(hello, last), null),
      at: Date.now(),
      pid: hello?.pid ?? null,
      lastSampleAt: last?.t ?? null,
      readingFrom: 'browser',
      backfill: {
        state: hello ? 'waiting' : 'none',
        samples: 0,
        cells: 0,
        truncated: false,
        note: null
      }
    };
    this._all = [...this._all, postMortem];
    this._changed.emit(postMortem);
    return postMortem;
  }

  /**
   * A dead kernel's successor said hello: settle the OOM checks (with the group's
   * high-water mark where an OOM kill is confirmed); the spools are due.
   */
  helloAfterDeath(hello: IHelloMessage): void {
    for (const postMortem of this._all) {
      const { oomKill, backfill } = postMortem;
      const settles = oomKill.state === 'pending';
      if (settles || backfill.state === 'waiting') {
        const settled = settleOnHello(oomKill, hello);
        const peak = settles ? cgroupPeakAfterDeath(settled, hello) : postMortem.cgroupPeak;
        this._replace(postMortem, {
          ...withPeak(postMortem, settled, peak),
          backfill: backfill.state === 'waiting' ? { ...backfill, state: 'due' } : backfill
        });
      }
    }
  }

  /**
   * The `spool` request to send now, if a kernel died under a cell and its successor
   * has said hello: the dead kernel's pid and the time of the last sample we have.
   * Marks it requested, so it is asked for once.
   */
  takeSpoolRequest(): { pid: number; since: number | null } | null {
    const postMortem = this._all.find(pm => pm.backfill.state === 'due');
    if (!postMortem || postMortem.pid === null) {
      return null;
    }
    this._replace(postMortem, { backfill: { ...postMortem.backfill, state: 'requested' } });
    return { pid: postMortem.pid, since: postMortem.lastSampleAt };
  }

  /** A `spool` request went unanswered (an older shim in the new kernel). */
  spoolUnanswered(pid: number, note: string): void {
    const postMortem = this._all.find(
      pm => pm.pid === pid && pm.backfill.state === 'requested'
    );
    if (postMortem) {
      this._replace(postMortem, { backfill: { ...postMortem.backfill, state: 'failed', note } });
    }
  }

  /** The newest post-mortem whose spool was asked of `pid` and not answered yet. */
  awaitingSpool(pid: number): IPostMortem | null {
    return (
      [...this._all]
        .reverse()
        .find(pm => pm.pid === pid && pm.backfill.state === 'requested') ?? null
    );
  }

  /**
   * The spool's answer was merged (`samples` of its readings and `cells` records were
   * new): its last reading, newer than the browser's, becomes the one at the death.
   */
  backfilled(
    postMortem: IPostMortem,
    message: ISpoolMessage,
    samples: readonly ISampleMessage[],
    cells: number
  ): void {
    const current = this._all.find(pm => pm.id === postMortem.id);
    if (!current) {
      return;
    }
    const backfill: IBackfill = {
      state: message.note === null ? 'done' : 'failed',
      samples: samples.length,
      cells,
      truncated: message.truncated,
      note: message.note
    };
    const last = samples.length ? samples[samples.length - 1] : null;
    const newer = last && (current.lastSampleAt === null || last.t > current.lastSampleAt);
    this._replace(
      current,
      newer
        ? {
            ...lastReading(last, current.oomKill, current.cgroupPeak),
            readingFrom: 'spool',
            backfill
          }
        : { backfill }
    );
  }

  private _replace(postMortem: IPostMortem, changes: Partial<IPostMortem>): void {
    const updated = { ...postMortem, ...changes, id: postMortem.id };
    this._all = this._all.map(pm => (pm.id === postMortem.id ? updated : pm));
    this._changed.emit(updated);
  }

  private _changed = new Signal<this, IPostMortem>(this);
  private _all: readonly IPostMortem[] = [];
  private _ids = 0;
}

type DeathFigures = IReadingAtDeath & { oomKill: IOomKillCheck; cgroupPeak: ICgroupPeak | null };

/**
 * A post-mortem's figures from the last reading before a death: the one rule for the
 * browser's last sample at the death and the spool's newer one after it. The OOM-kill
 * count is compared from the reading's own count where it has one: the latest before
 * the death (once the next kernel's count is known, it is settled again from there; at
 * the death the check is still pending, or has no counter to compare).
 */
function lastReading(
  last: ISampleMessage | null,
  check: IOomKillCheck,
  peak: ICgroupPeak | null
): DeathFigures {
  let oomKill = check;
  if (typeof last?.oom_kills === 'number' && check.state !== 'pending') {
    oomKill = settleOomKillCheck(
      { ...check, before: last.oom_kills },
      check.after,
      check.afterFile ?? null
    );
  }
  return withPeak(readingAtDeath(last), oomKill, peak);
}

/**
 * The group's high-water mark goes with an OOM kill the count confirmed, and only then
 * (after another kind of death it may be an older cell's); it reached the limit, so out
 * of memory is likely whatever the last reading showed.
 */
function withPeak(
  reading: IReadingAtDeath,
  oomKill: IOomKillCheck,
  peak: ICgroupPeak | null
): DeathFigures {
  const cgroupPeak = oomKill.state === 'confirmed' ? peak : null;
  return {
    ...reading,
    oomKill,
    cgroupPeak,
    outOfMemoryLikely: reading.outOfMemoryLikely || cgroupPeak !== null
  };
}
