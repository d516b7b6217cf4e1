import { Signal } from '@lumino/signaling';
import { MemoryModel } from '../model/memoryModel';
import { CellBadges } from '../views/cellBadges';
import { MAX_SPOOL_SAMPLES, parseKernelMessage } from '../protocol';
import { readingAtDeath } from '../model/postMortem';
import { deathMessage, postMortemDetails } from '../views/postMortemText';
import { cellRecord, hello, sample, trans } from './fixtures';

const T0 = 1_700_000_000;
const MiB = 2 ** 20;
const GiB = 2 ** 30;
const EVENTS = '/sys/fs/cgroup/user.slice/kernel/memory.events';

/** A model whose kernel (pid 100) died under cell [5] after samples up to T0 + 2. */
function deadKernel(oomKills: number | null = 3): MemoryModel {
  const model = new MemoryModel();
  model.handleMessage(hello({ pid: 100, oom_kills: oomKills, oom_kills_file: EVENTS }));
  for (const t of [0, 1, 2]) {
    model.handleMessage(sample({ t: T0 + t, rss: 100 * MiB, oom_kills: oomKills }));
  }
  model.handleMessage({ v: 1, type: 'cell_start', execution_count: 5, cell_id: 'c5', start: T0 + 1 });
  model.recordKernelDeath();
  return model;
}

function spool(overrides: Record<string, unknown> = {}) {
  return {
    v: 1,
    type: 'spool',
    pid: 100,
    since: T0 + 2,
    samples: [2.5, 3, 3.5].map(dt => {
      const { v, type, ...body } = sample({ t: T0 + dt, rss: 900 * MiB, used: 950 * MiB, limit: GiB });
      return { ...body, oom_kills: 3 };
    }),
    cells: [],
    truncated: false,
    note: null,
    ...overrides
  };
}
describe('post-mortem: the OOM-kill count across a restart', () => {
  it('is confirmed when the next kernel counts more kills in the same cgroup', () => {
    const model = deadKernel(3);
    expect(model.postMortems.all[0].oomKill.state).toBe('pending');
    model.handleMessage(hello({ pid: 200, oom_kills: 4, oom_kills_file: EVENTS }));
    const check = model.postMortems.all[0].oomKill;
    expect(check).toEqual(expect.objectContaining({ state: 'confirmed', before: 3, after: 4 }));
    expect(postMortemDetails(model.postMortems.all[0], trans)[0]).toBe(
      "The OOM killer ended a process in this kernel's memory cgroup (which may hold other kernels too) — confirmed by memory.events."
    );
  });

  it('is not confirmed when the count did not rise', () => {
    const model = deadKernel(3);
    model.handleMessage(hello({ pid: 200, oom_kills: 3, oom_kills_file: EVENTS }));
    expect(model.postMortems.all[0].oomKill.state).toBe('not-confirmed');
    expect(postMortemDetails(model.postMortems.all[0], trans)[0]).toMatch(
      /^Out of memory not confirmed: the OOM-kill count in memory.events did not rise/
    );
  });

  it('is unknown without a counter, or when the new kernel counts another cgroup', () => {
    const none = deadKernel(null);
    none.handleMessage(hello({ pid: 200, oom_kills: null, oom_kills_file: null }));
    expect(none.postMortems.all[0].oomKill).toEqual(
      expect.objectContaining({ state: 'unknown', reason: 'no-counter' })
    );
    expect(postMortemDetails(none.postMortems.all[0], trans)[0]).toMatch(/^Out of memory unknown: no OOM-kill counter/);

    const moved = deadKernel(3);
    moved.handleMessage(hello({ pid: 200, oom_kills: 9, oom_kills_file: '/elsewhere/memory.events' }));
    expect(moved.postMortems.all[0].oomKill).toEqual(
      expect.objectContaining({ state: 'unknown', reason: 'other-cgroup' })
    );
  });

  it('compares from the newest sample\'s count, and settles once', () => {
    const model = new MemoryModel();
    model.handleMessage(hello({ pid: 100, oom_kills: 2, oom_kills_file: EVENTS }));
    model.handleMessage(sample({ t: T0, oom_kills: 3 })); // a child was OOM-killed earlier
    model.handleMessage({ v: 1, type: 'cell_start', execution_count: 1, cell_id: 'c', start: T0 });
    model.recordKernelDeath();
    model.handleMessage(hello({ pid: 200, oom_kills: 3, oom_kills_file: EVENTS }));
    expect(model.postMortems.all[0].oomKill).toEqual(
      expect.objectContaining({ state: 'not-confirmed', before: 3 })
    );
    model.handleMessage(hello({ pid: 200, oom_kills: 4, oom_kills_file: EVENTS })); // later news
    expect(model.postMortems.all[0].oomKill.state).toBe('not-confirmed');
  });
});

describe("post-mortem: the memory cgroup's high-water mark", () => {
  const PEAK = '/sys/fs/cgroup/memory/kernel/memory.max_usage_in_bytes';

  it('is the figure told after a confirmed OOM kill, with where it was read', () => {
    // The last sample, a second before, saw 40 MiB; the group reached its 2 GiB limit.
    const model = new MemoryModel();
    model.handleMessage(hello({ pid: 100, oom_kills: 3, oom_kills_file: EVENTS }));
    model.handleMessage(sample({ t: T0, rss: 38 * MiB, used: Math.round(40.3 * MiB), limit: 2 * GiB, oom_kills: 3 }));
    model.handleMessage({ v: 1, type: 'cell_start', execution_count: 5, cell_id: 'c5', start: T0 });
    model.recordKernelDeath();
    expect(model.postMortems.all[0].outOfMemoryLikely).toBe(false);
    model.handleMessage(
      hello({ pid: 200, oom_kills: 4, oom_kills_file: EVENTS, cgroup_peak: 2 * GiB, cgroup_peak_file: PEAK })
    );
    const postMortem = model.postMortems.all[0];
    expect(postMortem.cgroupPeak).toEqual({ bytes: 2 * GiB, file: PEAK });
    expect(postMortem.outOfMemoryLikely).toBe(true);
    expect(deathMessage(postMortem, trans)).toBe(
      "The kernel died while cell [5] ran, after the session reached 2.0 GiB of its 2.0 GiB limit (the memory cgroup's high-water mark, memory.max_usage_in_bytes, page cache included). The last reading before: 40.3 MiB (this kernel: 38.0 MiB)."
    );
  });

  it('is not told where the count did not rise: the mark may be an older cell\'s', () => {
    const model = deadKernel(3);
    model.handleMessage(
      hello({ pid: 200, oom_kills: 3, oom_kills_file: EVENTS, cgroup_peak: 2 * GiB, cgroup_peak_file: PEAK })
    );
    expect(model.postMortems.all[0].cgroupPeak).toBeNull();
    expect(deathMessage(model.postMortems.all[0], trans)).not.toContain('high-water');
  });

  it('is dropped when the spool shows the kill came before the death', () => {
    const model = deadKernel(3);
    model.handleMessage(
      hello({ pid: 200, oom_kills: 4, oom_kills_file: EVENTS, cgroup_peak: 2 * GiB, cgroup_peak_file: PEAK })
    );
    model.takeSpoolRequest();
    const { v, type, ...body } = sample({ t: T0 + 3, rss: 100 * MiB });
    model.handleMessage(spool({ samples: [{ ...body, oom_kills: 4 }] }));
    expect(model.postMortems.all[0].oomKill.state).toBe('not-confirmed');
    expect(model.postMortems.all[0].cgroupPeak).toBeNull();
  });
});

describe('post-mortem: back-filling from the dead kernel\'s spool', () => {
  let warn: jest.SpyInstance;
  beforeEach(() => {
    warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => warn.mockRestore());

  it('asks once, after the next kernel says hello, for what came after our last sample', () => {
    const model = deadKernel();
    expect(model.takeSpoolRequest()).toBeNull(); // the new kernel is not there yet
    model.handleMessage(hello({ pid: 200 }));
    expect(model.takeSpoolRequest()).toEqual({ pid: 100, since: T0 + 2 });
    expect(model.takeSpoolRequest()).toBeNull();
    expect(postMortemDetails(model.postMortems.all[0], trans)).toContain(
      "Fetching the readings the browser missed from the kernel's spool…"
    );
  });

  it('merges the samples in time order, marked, and takes the spool\'s last reading', () => {
    const model = deadKernel(3);
    model.handleMessage(hello({ pid: 200, oom_kills: 3, oom_kills_file: EVENTS }));
    model.handleMessage(sample({ t: T0 + 10, rss: 50 * MiB })); // the new kernel's first
    model.takeSpoolRequest();
    const missed = cellRecord({ execution_count: 4, cell_id: 'c4', start: T0 + 1.5, duration: 1 });
    model.handleMessage(spool({ cells: [missed] }));

    expect(model.readings.samples.map(s => s.t - T0)).toEqual([0, 1, 2, 2.5, 3, 3.5, 10]);
    expect(model.readings.samples.filter(s => s.from_spool).map(s => s.t - T0)).toEqual([2.5, 3, 3.5]);
    expect(model.readings.latest?.t).toBe(T0 + 10);
    expect(model.cells.records.map(c => c.cell_id)).toEqual(['c4']);
    const postMortem = model.postMortems.all[0];
    expect(postMortem).toEqual(
      expect.objectContaining({
        readingFrom: 'spool',
        used: 950 * MiB,
        limit: GiB,
        outOfMemoryLikely: true,
        backfill: { state: 'done', samples: 3, cells: 1, truncated: false, note: null }
      })
    );
    // The timeline gets the back-filled points too.
    const [times] = model.readings.timeline.data().data;
    expect(times).toEqual(expect.arrayContaining([T0 + 2.5, T0 + 3, T0 + 3.5]));
    expect(postMortemDetails(postMortem, trans)[1]).toBe(
      "Readings the browser missed, recovered from the kernel's spool: 3; the figures above are its last reading."
    );
  });

  it('ignores an answer it did not ask for, and duplicates', () => {
    const model = deadKernel();
    model.handleMessage(spool());
    expect(model.readings.samples).toHaveLength(3);
    model.handleMessage(hello({ pid: 200 }));
    model.takeSpoolRequest();
    model.handleMessage(spool({ samples: [...spool().samples, { ...spool().samples[0], t: T0 + 2 }] }));
    expect(model.readings.samples.map(s => s.t - T0)).toEqual([0, 1, 2, 2.5, 3, 3.5]);
    model.handleMessage(spool());
    expect(model.readings.samples).toHaveLength(6);
  });

  it('says why nothing came', () => {
    const model = deadKernel();
    model.handleMessage(hello({ pid: 200 }));
    model.takeSpoolRequest();
    model.handleMessage(spool({ samples: [], note: 'No spool of kernel 100 was found in /tmp/x.' }));
    expect(model.postMortems.all[0].backfill.state).toBe('failed');
    expect(postMortemDetails(model.postMortems.all[0], trans)[1]).toBe(
      'The missed readings could not be recovered: No spool of kernel 100 was found in /tmp/x.'
    );
    const silent = deadKernel();
    silent.handleMessage(hello({ pid: 200 }));
    silent.takeSpoolRequest();
    silent.spoolUnanswered(100, 'no answer');
    expect(silent.postMortems.all[0].backfill).toEqual(expect.objectContaining({ state: 'failed', note: 'no answer' }));
  });

  it('validates the answer and caps its size', () => {
    expect(parseKernelMessage(spool()).ok).toBe(true);
    const tooMany = Array.from({ length: MAX_SPOOL_SAMPLES + 1 }, () => spool().samples[0]);
    const cut = parseKernelMessage(spool({ samples: tooMany }));
    expect(cut.ok && (cut.message as any).samples.length).toBe(MAX_SPOOL_SAMPLES);
    const good = spool().samples[0];
    const one = parseKernelMessage(spool({ samples: [{ t: 'yesterday' }, good] }));
    expect(one.ok && (one.message as any).samples).toEqual([good]);
    expect(parseKernelMessage(spool({ pid: '../100' })).ok).toBe(false); // answers nothing
    const noCount = parseKernelMessage(hello({ oom_kills: -1 }));
    expect(noCount.ok && (noCount.message as any).oom_kills).toBeNull(); // not measured
    expect(parseKernelMessage(hello({ oom_kills: 2, oom_kills_file: EVENTS })).ok).toBe(true);
  });
});

describe('post-mortem: the cell badge', () => {
  it('says what the restart told, unless the cell has run again since', () => {
    const node = document.createElement('div');
    const panel = {
      content: {
        widgets: [{ model: { id: 'c5' }, node }],
        model: { cells: { changed: new Signal<object, void>({}) } }
      }
    };
    const model = new MemoryModel();
    new CellBadges(panel as any, model, trans);
    model.handleMessage(hello({ pid: 100, oom_kills: 3, oom_kills_file: EVENTS }));
    model.handleMessage({ v: 1, type: 'cell_start', execution_count: 5, cell_id: 'c5', start: T0 });
    model.handleMessage(sample({ t: T0 + 2, used: 100 * MiB, limit: GiB, oom_kills: 3 }));
    model.recordKernelDeath();
    const text = () => node.querySelector('.jp-oomguard-badge')?.textContent;
    expect(text()).toBe(
      'The kernel died while this cell ran, with the session at 100 MiB of its 1.0 GiB limit (this kernel: 300 MiB). ' +
        'Whether the OOM killer did it is checked in memory.events when the kernel is back.'
    );
    model.handleMessage(hello({ pid: 200, oom_kills: 4, oom_kills_file: EVENTS }));
    model.takeSpoolRequest();
    model.handleMessage(spool());
    expect(text()).toBe(
      'The kernel died while this cell ran, with the session at 950 MiB of its 1.0 GiB limit (this kernel: 900 MiB): out of memory likely. ' +
        "The OOM killer ended a process in this kernel's memory cgroup (which may hold other kernels too) — confirmed by memory.events. " +
        "Readings the browser missed, recovered from the kernel's spool: 3; the figures above are its last reading."
    );
    expect(node.querySelector<HTMLElement>('.jp-oomguard-badge')?.dataset.severity).toBe('critical');
  });

  it('does not cover a re-run with later news of the death', () => {
    const node = document.createElement('div');
    const panel = {
      content: {
        widgets: [{ model: { id: 'c5' }, node }],
        model: { cells: { changed: new Signal<object, void>({}) } }
      }
    };
    const model = deadKernel();
    new CellBadges(panel as any, model, trans);
    model.handleMessage(hello({ pid: 200, oom_kills: 3, oom_kills_file: EVENTS }));
    model.takeSpoolRequest();
    model.handleMessage({ v: 1, type: 'cell', record: cellRecord({ cell_id: 'c5' }) });
    model.handleMessage(spool()); // arrives after the cell ran again
    expect(node.querySelector('.jp-oomguard-badge')?.textContent).toBe(
      'RAM +512 MiB · peak +1.0 GiB · 1.25 s'
    );
  });
});

describe('post-mortem: the death sentence', () => {
  const at = (overrides: Record<string, unknown>) =>
    deathMessage({ execution_count: 4, ...readingAtDeath(sample(overrides) as any) } as any, trans);

  it('names the session figure and the kernel figure, each for what it is', () => {
    expect(at({ rss: 891 * MiB, used: 1.8 * GiB, limit: 23.5 * GiB })).toBe(
      'The kernel died while cell [4] ran, with the session at 1.8 GiB of its 23.5 GiB limit (this kernel: 891 MiB).'
    );
    expect(at({ rss: null, used: 23 * GiB, limit: 23.5 * GiB })).toBe(
      'The kernel died while cell [4] ran, with the session at 23.0 GiB of its 23.5 GiB limit: out of memory likely.'
    );
  });

  it("says when only the kernel's own figure was measured, and judges by it", () => {
    expect(at({ rss: 22 * GiB, used: null, limit: 23.5 * GiB })).toBe(
      "The kernel died while cell [4] ran, with this kernel at 22.0 GiB of a 23.5 GiB session limit (the session's own use was not measured): out of memory likely."
    );
    expect(at({ rss: 891 * MiB, used: null, limit: null })).toBe(
      'The kernel died while cell [4] ran, with this kernel at 891 MiB.'
    );
    expect(at({ rss: null, used: null, limit: null })).toBe('The kernel died while cell [4] ran.');
    expect(deathMessage(null, trans)).toBe('The kernel died.');
  });
});
