import {
  clientMessage,
  ISampleMessage,
  parseKernelMessage,
  PROTOCOL_VERSION
} from '../protocol';
import { cellRecord, gpu, hello, sample, variable } from './fixtures';

describe('parseKernelMessage', () => {
  it('accepts well-formed hello, sample and error messages', () => {
    for (const message of [
      hello(),
      sample(),
      { v: 1, type: 'error', message: 'cgroup unreadable' }
    ]) {
      const result = parseKernelMessage(message);
      expect(result.ok).toBe(true);
    }
  });

  it('accepts null readings, which mean "not measured"', () => {
    const result = parseKernelMessage(
      sample({ rss: null, limit: null, free: null, used: null, notes: ['no /proc'] })
    );
    expect(result.ok).toBe(true);
  });

  it('ignores fields it does not know (additive protocol changes)', () => {
    expect(parseKernelMessage(sample({ vram: [1, 2] })).ok).toBe(true);
  });

  it.each([
    ['a string', 'hello'],
    ['null', null],
    ['an array', [1, 2]],
    ['no type', { v: 1 }],
    ['an unknown type', { v: 1, type: 'explode' }],
    ['a negative rss', sample({ rss: -1 })],
    ['a string rss', sample({ rss: '12' })],
    ['NaN limit', sample({ limit: NaN })],
    ['Infinity free', sample({ free: Infinity })],
    ['missing t', sample({ t: undefined })],
    ['notes not a list', sample({ notes: 'oops' })],
    ['a note that is not text', sample({ notes: [{ html: '<b>' }] })],
    ['an oversize note', sample({ notes: ['x'.repeat(5000)] })],
    ['too many notes', sample({ notes: Array(100).fill('n') })],
    ['a fractional pid', hello({ pid: 1.5 })],
    ['a zero interval', hello({ interval: 0 })],
    ['an error without text', { v: 1, type: 'error' }]
  ])('rejects %s', (_, message) => {
    const result = parseKernelMessage(message);
    expect(result.ok).toBe(false);
  });

  it('reports a different protocol version as a mismatch', () => {
    const result = parseKernelMessage(sample({ v: 2 }));
    expect(result).toEqual(
      expect.objectContaining({ ok: false, versionMismatch: 2 })
    );
  });

  it('does not call a missing version a mismatch of a known number', () => {
    const result = parseKernelMessage(sample({ v: undefined }));
    expect(result.ok).toBe(false);
    expect(result.ok === false && result.versionMismatch).toBeUndefined();
  });
});

describe('messages added to v1', () => {
  it.each([
    ['a sample with GPUs and a running cell', sample({ gpus: [gpu(), gpu({ index: 1, used: null })], running_cell: { execution_count: 4, cell_id: null, start: 1 } })],
    ['a sample with no GPU', sample({ gpus: [] })],
    ['a sample whose GPUs were not measured', sample({ gpus: null })],
    ['a cell start', { v: 1, type: 'cell_start', execution_count: 4, cell_id: 'x', start: 2 }],
    ['a cell record', { v: 1, type: 'cell', record: cellRecord() }],
    ['a cell record with a shrinking delta', { v: 1, type: 'cell', record: cellRecord({ ram_delta: -5, gpu: [{ index: 0, before: 1, after: 2, peak: 3 }] }) }],
    ['a variable scan', { v: 1, type: 'variables', variables: [variable(), variable({ name: 'x', shape: null, dtype: null, device: null, bytes: null })], truncated: false, took: 0.01 }]
  ])('accepts %s', (_, message) => {
    expect(parseKernelMessage(message)).toEqual(expect.objectContaining({ ok: true }));
  });

  it.each([
    ['a GPU without a name', sample({ gpus: [gpu({ name: undefined })] })],
    ['a negative GPU index', sample({ gpus: [gpu({ index: -1 })] })],
    ['too many GPUs', sample({ gpus: Array(65).fill(gpu()) })],
    ['GPUs as an object', sample({ gpus: { 0: gpu() } })],
    ['a cell record of unknown status', { v: 1, type: 'cell', record: cellRecord({ status: 'exploded' }) }],
    ['a cell record without duration', { v: 1, type: 'cell', record: cellRecord({ duration: undefined }) }],
    ['a cell record whose findings are text', { v: 1, type: 'cell', record: cellRecord({ findings: ['<b>'] }) }],
    ['a cell message without record', { v: 1, type: 'cell' }],
    ['a variable with a fractional dimension', { v: 1, type: 'variables', variables: [variable({ shape: [1.5] })], truncated: false, took: 0 }],
    ['a variable named by a number', { v: 1, type: 'variables', variables: [variable({ name: 7 })], truncated: false, took: 0 }],
    ['an oversize variable scan', { v: 1, type: 'variables', variables: Array(5001).fill(variable()), truncated: false, took: 0 }]
  ])('rejects %s', (_, message) => {
    expect(parseKernelMessage(message).ok).toBe(false);
  });
});

describe('clientMessage', () => {
  it('stamps the protocol version', () => {
    expect(clientMessage({ type: 'settings', interval: 0.5 })).toEqual({
      v: PROTOCOL_VERSION,
      type: 'settings',
      interval: 0.5
    });
  });
});

describe('a cluster the kernel drives (separable fields)', () => {
  const figures = { engine: 'dask', memory: 700, limit: 2048, workers: 2 };
  const cluster = {
    engine: 'dask',
    scheduler: 'tcp://127.0.0.1:8786',
    workers: 2,
    before: 200,
    after: 712,
    peak: 730,
    limit: 2048,
    per_worker: { 'tcp://127.0.0.1:1': 365, 'tcp://127.0.0.1:2': 360 },
    restarted: [
      {
        worker: 'tcp://127.0.0.1:3',
        reason: 'its nanny restarted it for exceeding the memory limit',
        t: 1795714539.9,
        rss: 1052626944,
        limit: 1073741824,
        task: 'hog-1',
        pid: 31242
      }
    ],
    lost: [],
    notes: ['sampled every 0.5 s']
  };

  it('accepts cluster figures in samples and a cluster in cell records', () => {
    for (const message of [
      sample({ cluster: figures }),
      sample({ cluster: { ...figures, memory: null, workers: null } }),
      { v: 1, type: 'cell', record: cellRecord({ cluster }) },
      {
        v: 1,
        type: 'spool',
        pid: 4,
        since: null,
        samples: [sample({ cluster: figures })],
        cells: [cellRecord({ cluster })],
        truncated: false,
        note: null
      }
    ]) {
      const result = parseKernelMessage(message);
      expect(result).toEqual({ ok: true, message, dropped: [] });
    }
  });

  it.each([
    ['a negative peak', { ...cluster, peak: -1 }],
    ['per_worker as a list', { ...cluster, per_worker: [365] }],
    ['a worker peak given as text', { ...cluster, per_worker: { a: '365' } }],
    ['a restarted worker without a reason', { ...cluster, restarted: [{ worker: 'a' }] }],
    ['too many workers', { ...cluster, per_worker: Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`w${i}`, 1])) }],
    ['no engine', { ...cluster, engine: undefined }],
    ['a string', 'dask']
  ])('drops a cluster with %s alone, keeping the record', (_, bad) => {
    const message = { v: 1, type: 'cell', record: cellRecord({ cluster: bad }) };
    const result = parseKernelMessage(message);
    expect(result.ok).toBe(true);
    if (result.ok && result.message.type === 'cell') {
      expect(result.dropped).toEqual(['record.cluster']);
      expect(result.message.record.cluster).toBeUndefined();
      expect(result.message.record).toEqual(
        expect.objectContaining({ execution_count: cellRecord().execution_count })
      );
    }
    expect((message.record as Record<string, unknown>).cluster).toBe(bad); // input untouched
  });

  it('drops malformed figures from a sample and from spooled entries alone', () => {
    const bad = { ...figures, memory: 'lots' };
    const fromSample = parseKernelMessage(sample({ cluster: bad }));
    expect(fromSample.ok && fromSample.dropped).toEqual(['cluster']);
    expect(fromSample.ok && (fromSample.message as ISampleMessage).cluster).toBeUndefined();
    const spool = parseKernelMessage({
      v: 1,
      type: 'spool',
      pid: 4,
      since: null,
      samples: [sample({ cluster: figures }), sample({ cluster: bad })],
      cells: [cellRecord({ cluster: { ...cluster, lost: 'x' } })],
      truncated: false,
      note: null
    });
    expect(spool.ok && spool.dropped).toEqual(['samples[1].cluster', 'cells[0].cluster']);
    if (spool.ok && spool.message.type === 'spool') {
      expect(spool.message.samples[0].cluster).toEqual(figures);
      expect(spool.message.samples[1].cluster).toBeUndefined();
      expect(spool.message.cells[0].cluster).toBeUndefined();
    }
  });

  it('still refuses a record that is bad elsewhere', () => {
    const message = { v: 1, type: 'cell', record: cellRecord({ cluster, status: 'x' }) };
    expect(parseKernelMessage(message).ok).toBe(false);
  });
});
