import { MemoryChange, MemoryModel } from '../model/memoryModel';
import { cellRecord, hello, sample, variable } from './fixtures';

function record(model: MemoryModel): MemoryChange[] {
  const changes: MemoryChange[] = [];
  model.changed.connect((_, change) => changes.push(change));
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
    expect(model.status.state).toBe('no-kernel');
    expect(model.latest).toBeNull();
    expect(model.hello).toBeNull();
  });

  it('becomes connected on hello and keeps the pid', () => {
    const model = new MemoryModel();
    model.setStatus('connecting', 'Loading');
    const changes = record(model);
    model.handleMessage(hello({ pid: 99 }));
    expect(model.status).toEqual({ state: 'connected', message: '' });
    expect(model.hello?.pid).toBe(99);
    expect(changes).toEqual(['hello', 'status']);
  });

  it('keeps samples in order and exposes the newest', () => {
    const model = new MemoryModel();
    const changes = record(model);
    model.handleMessage(sample({ t: 1, rss: 100 }));
    model.handleMessage(sample({ t: 2, rss: 200 }));
    expect(model.samples.map(s => s.rss)).toEqual([100, 200]);
    expect(model.latest?.rss).toBe(200);
    expect(model.lastReceivedAt).not.toBeNull();
    expect(changes).toEqual(['sample', 'sample']);
  });

  it('bounds the history, dropping the oldest samples', () => {
    const model = new MemoryModel({ maxSamples: 3 });
    for (let t = 1; t <= 5; t++) {
      model.handleMessage(sample({ t }));
    }
    expect(model.samples.map(s => s.t)).toEqual([3, 4, 5]);
  });

  it('drops malformed messages with a warning and changes nothing', () => {
    const model = new MemoryModel();
    const changes = record(model);
    model.handleMessage({ v: 1, type: 'sample', rss: 'a lot' });
    model.handleMessage('<script>alert(1)</script>');
    model.handleMessage(undefined);
    expect(model.samples).toHaveLength(0);
    expect(model.rejectedCount).toBe(3);
    expect(changes).toEqual([]);
    expect(warn).toHaveBeenCalledTimes(3);
  });

  it('marks the link incompatible on another protocol version', () => {
    const model = new MemoryModel();
    model.handleMessage(hello({ v: 7 }));
    expect(model.status.state).toBe('incompatible');
    expect(model.status.message).toContain('v7');
    expect(model.status.message).toContain('pip install -U oomguard');
    expect(model.hello).toBeNull();
  });

  it('records errors the shim reports', () => {
    const model = new MemoryModel();
    model.handleMessage({ v: 1, type: 'error', message: 'cgroup unreadable' });
    expect(model.shimError).toBe('cgroup unreadable');
  });

  it('recovers from "waiting" when a sample arrives', () => {
    const model = new MemoryModel();
    model.setStatus('waiting', 'no answer');
    model.handleMessage(sample());
    expect(model.status.state).toBe('connected');
  });

  it('forgets the kernel on reset but keeps the timeline', () => {
    const model = new MemoryModel();
    model.handleMessage(hello());
    model.handleMessage(sample());
    model.resetKernel();
    expect(model.hello).toBeNull();
    expect(model.samples).toHaveLength(1);
  });

  it('ignores messages after dispose', () => {
    const model = new MemoryModel();
    model.dispose();
    model.handleMessage(sample());
    expect(model.samples).toHaveLength(0);
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
    expect(model.runningCell).toEqual({ execution_count: 1, cell_id: 'a', start: 5 });
    for (const count of [1, 2, 3]) {
      model.handleMessage({ v: 1, type: 'cell', record: cellRecord({ execution_count: count }) });
    }
    expect(model.runningCell).toBeNull();
    expect(model.cells.map(c => c.execution_count)).toEqual([2, 3]);
  });

  it('takes the running cell from samples, which heals a missed message', () => {
    const model = new MemoryModel();
    model.handleMessage(sample({ running_cell: { execution_count: 9, cell_id: null, start: 1 } }));
    expect(model.runningCell?.execution_count).toBe(9);
    model.handleMessage(sample({ running_cell: null }));
    expect(model.runningCell).toBeNull();
    // An older shim says nothing: keep what we know.
    model.handleMessage({ v: 1, type: 'cell_start', execution_count: 10, cell_id: null, start: 2 });
    model.handleMessage(sample());
    expect(model.runningCell?.execution_count).toBe(10);
  });

  it('keeps the latest variable scan until the kernel changes', () => {
    const model = new MemoryModel();
    const changes = record(model);
    model.handleMessage({ v: 1, type: 'variables', variables: [variable()], truncated: false, took: 0.002 });
    expect(model.variables?.variables[0].name).toBe('adj');
    expect(changes).toEqual(['variables']);
    model.resetKernel();
    expect(model.variables).toBeNull();
  });
});
