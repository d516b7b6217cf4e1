import { MemoryModel } from '../model/memoryModel';
import { cellRecord, hello, sample, variable } from './fixtures';

/** Every change any part of the model says, as "part:kind". */
function record(model: MemoryModel): string[] {
  const changes: string[] = [];
  model.readings.changed.connect((_, change) => changes.push(`readings:${change}`));
  model.cells.changed.connect((_, change) => changes.push(`cells:${change.kind}`));
  model.variables.changed.connect((_, change) => changes.push(`variables:${change}`));
  model.warnings.changed.connect((_, change) => changes.push(`warnings:${change.kind}`));
  model.postMortems.changed.connect(() => changes.push('postMortems'));
  return changes;
}

describe('MemoryModel', () => {
  let warn: jest.SpyInstance;
  beforeEach(() => {
    warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => warn.mockRestore());

  it('starts with no kernel and no readings', () => {
    const model = new MemoryModel();
    expect(model.readings.status.state).toBe('no-kernel');
    expect(model.readings.latest).toBeNull();
    expect(model.readings.hello).toBeNull();
  });

  it('becomes connected on hello and keeps the pid', () => {
    const model = new MemoryModel();
    model.setStatus('connecting', 'Loading');
    const changes = record(model);
    model.handleMessage(hello({ pid: 99 }));
    expect(model.readings.status).toEqual({ state: 'connected', message: '' });
    expect(model.readings.hello?.pid).toBe(99);
    expect(changes).toEqual(['readings:hello', 'readings:status']);
  });

  it('keeps samples in order and exposes the newest', () => {
    const model = new MemoryModel();
    const changes = record(model);
    model.handleMessage(sample({ t: 1, rss: 100 }));
    model.handleMessage(sample({ t: 2, rss: 200 }));
    expect(model.readings.samples.map(s => s.rss)).toEqual([100, 200]);
    expect(model.readings.latest?.rss).toBe(200);
    expect(model.readings.lastReceivedAt).not.toBeNull();
    expect(changes).toEqual(['readings:sample', 'readings:sample']);
  });

  it('bounds the history, dropping the oldest samples', () => {
    const model = new MemoryModel({ maxSamples: 3 });
    for (let t = 1; t <= 5; t++) {
      model.handleMessage(sample({ t }));
    }
    expect(model.readings.samples.map(s => s.t)).toEqual([3, 4, 5]);
  });

  it('drops malformed messages with a warning and changes nothing', () => {
    const model = new MemoryModel();
    const changes = record(model);
    model.handleMessage({ v: 1, type: 'sample', rss: 'a lot' });
    model.handleMessage('<script>alert(1)</script>');
    model.handleMessage(undefined);
    expect(model.readings.samples).toHaveLength(0);
    expect(model.rejectedCount).toBe(3);
    expect(changes).toEqual([]);
    expect(warn).toHaveBeenCalledTimes(3);
  });

  it('marks the link incompatible on another protocol version', () => {
    const model = new MemoryModel();
    model.handleMessage(hello({ v: 7 }));
    expect(model.readings.status.state).toBe('incompatible');
    expect(model.readings.status.message).toContain('v7');
    expect(model.readings.status.message).toContain('pip install -U oomguard');
    expect(model.readings.hello).toBeNull();
  });

  it('records errors the shim reports', () => {
    const model = new MemoryModel();
    model.handleMessage({ v: 1, type: 'error', message: 'cgroup unreadable' });
    expect(model.readings.shimError).toBe('cgroup unreadable');
  });

  it("forgets a dead kernel's error when the new kernel says hello", () => {
    const model = new MemoryModel();
    model.handleMessage(hello({ pid: 1 }));
    model.handleMessage({ v: 1, type: 'error', message: 'cgroup unreadable' });
    model.handleMessage(hello({ pid: 1 }));
    expect(model.readings.shimError).toBe('cgroup unreadable');
    model.handleMessage(hello({ pid: 2 }));
    expect(model.readings.shimError).toBeNull();
  });

  it('recovers from "waiting" when a sample arrives', () => {
    const model = new MemoryModel();
    model.setStatus('waiting', 'no answer');
    model.handleMessage(sample());
    expect(model.readings.status.state).toBe('connected');
  });

  it('forgets the kernel on reset but keeps the timeline', () => {
    const model = new MemoryModel();
    model.handleMessage(hello());
    model.handleMessage(sample());
    model.resetKernel();
    expect(model.readings.hello).toBeNull();
    expect(model.readings.samples).toHaveLength(1);
  });

  it('ignores messages after dispose', () => {
    const model = new MemoryModel();
    model.dispose();
    model.handleMessage(sample());
    expect(model.readings.samples).toHaveLength(0);
    expect(model.isDisposed).toBe(true);
  });

  it('does not emit when the status does not change', () => {
    const model = new MemoryModel();
    model.setStatus('connecting', 'x');
    const changes = record(model);
    model.setStatus('connecting', 'x');
    expect(changes).toEqual([]);
  });

  it('tracks the running cell and keeps cell records in order', () => {
    const model = new MemoryModel({ maxCells: 2 });
    model.handleMessage({ v: 1, type: 'cell_start', execution_count: 1, cell_id: 'a', start: 5 });
    expect(model.cells.running).toEqual({ execution_count: 1, cell_id: 'a', start: 5 });
    for (const count of [1, 2, 3]) {
      model.handleMessage({ v: 1, type: 'cell', record: cellRecord({ execution_count: count }) });
    }
    expect(model.cells.running).toBeNull();
    expect(model.cells.records.map(c => c.execution_count)).toEqual([2, 3]);
  });

  it('takes the running cell from samples, which heals a missed message', () => {
    const model = new MemoryModel();
    model.handleMessage(sample({ running_cell: { execution_count: 9, cell_id: null, start: 1 } }));
    expect(model.cells.running?.execution_count).toBe(9);
    model.handleMessage(sample({ running_cell: null }));
    expect(model.cells.running).toBeNull();
    // An older shim says nothing: keep what we know.
    model.handleMessage({ v: 1, type: 'cell_start', execution_count: 10, cell_id: null, start: 2 });
    model.handleMessage(sample());
    expect(model.cells.running?.execution_count).toBe(10);
  });

  it('keeps the latest variable scan until the kernel changes', () => {
    const model = new MemoryModel();
    const changes = record(model);
    model.handleMessage({ v: 1, type: 'variables', variables: [variable()], truncated: false, took: 0.002 });
    expect(model.variables.scan?.variables[0].name).toBe('adj');
    expect(changes).toEqual(['variables:scan']);
    model.resetKernel();
    expect(model.variables.scan).toBeNull();
  });

  it('tells each part only of its own changes', () => {
    const model = new MemoryModel();
    model.handleMessage(hello());
    const changes = record(model);
    model.handleMessage(sample({ running_cell: null }));
    expect(changes).toEqual(['readings:sample']); // no cell ran and none runs: the same
    changes.length = 0;
    model.handleMessage({ v: 1, type: 'cell_start', execution_count: 1, cell_id: 'a', start: 5 });
    model.handleMessage(sample({ running_cell: { execution_count: 1, cell_id: 'a', start: 5 } }));
    expect(changes).toEqual(['cells:running', 'readings:sample']);
    changes.length = 0;
    model.handleMessage({ v: 1, type: 'cell', record: cellRecord({ execution_count: 1, cell_id: 'a' }) });
    expect(changes).toEqual(['cells:record', 'readings:spans']);
    changes.length = 0;
    model.handleMessage({ v: 1, type: 'sizes', sizes: { x: 1 }, truncated: false });
    model.handleMessage({ v: 1, type: 'hints', hints: [] });
    expect(changes).toEqual(['variables:sizes', 'warnings:hints']);
  });

  it('hands out state that cannot be changed from outside', () => {
    const model = new MemoryModel();
    // Checked when this file compiles (ts-jest): the lists are read-only views.
    const mutate = () => {
      // @ts-expect-error: no push on a readonly array
      model.readings.samples.push(sample());
      // @ts-expect-error: nor on the cells
      model.cells.records.splice(0);
    };
    void mutate;
    model.handleMessage(hello({ pid: 1, oom_kills: 0, oom_kills_file: 'memory.events' }));
    model.handleMessage(sample({ t: 1, oom_kills: 0 }));
    model.handleMessage({ v: 1, type: 'cell_start', execution_count: 1, cell_id: 'a', start: 5 });
    model.recordKernelDeath();
    const before = model.postMortems.all;
    model.handleMessage(hello({ pid: 2 }));
    // A post-mortem that learns more is a new object in a new list.
    expect(model.postMortems.all).not.toBe(before);
    expect(model.postMortems.all[0]).not.toBe(before[0]);
    expect(model.postMortems.all[0].id).toBe(before[0].id);
  });
});

describe('CellsModel', () => {
  it('keeps each cell\'s latest run, however many ran since', () => {
    const model = new MemoryModel({ maxCells: 3 });
    const run = (cellId: string, count: number, peak: number) =>
      model.handleMessage({
        v: 1,
        type: 'cell',
        record: cellRecord({ cell_id: cellId, execution_count: count, start: count, ram_peak_delta: peak })
      });
    run('a', 1, 100);
    run('b', 2, 200);
    run('a', 3, 50); // a re-run replaces its record
    run('c', 4, 10);
    run('c', 5, 20);
    run('c', 6, 30);
    expect(model.cells.records.map(r => r.execution_count)).toEqual([4, 5, 6]);
    const latest = Object.fromEntries(
      model.cells.latestPerCell.map(r => [r.cell_id, r.ram_peak_delta])
    );
    expect(latest).toEqual({ a: 50, b: 200, c: 30 });
    run('d', 7, 1); // the least recently run cell goes past the bound
    expect(model.cells.latestPerCell.map(r => r.cell_id).sort()).toEqual(['a', 'c', 'd']);
  });
});
