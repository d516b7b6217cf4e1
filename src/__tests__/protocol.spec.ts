import {
  clientMessage,
  ISampleMessage,
  IWarningMessage,
  parseKernelMessage,
  PROTOCOL_VERSION,
  warningSetting
} from '../protocol';
import { cellRecord, gpu, hello, sample, variable, warning } from './fixtures';

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
    ['a sample without its time', sample({ t: undefined })],
    ['a sample with a text time', sample({ t: 'now' })],
    ['a fractional pid', hello({ pid: 1.5 })],
    ['a zero interval', hello({ interval: 0 })],
    ['an error without text', { v: 1, type: 'error' }]
  ])('refuses %s: nothing in it could be used', (_, message) => {
    const result = parseKernelMessage(message);
    expect(result.ok).toBe(false);
  });

  // One bad field never costs the whole message: the rest is kept, and what was left
  // out or cut is said (the model writes it to the console).
  it.each([
    ['a negative rss', sample({ rss: -1 }), { rss: null }],
    ['a string rss', sample({ rss: '12' }), { rss: null }],
    ['a NaN limit', sample({ limit: NaN }), { limit: null }],
    ['an Infinity free', sample({ free: Infinity }), { free: null }],
    ['a limit source that is not text', sample({ limit_source: 5 }), { limit_source: 'unknown' }],
    ['notes that are not a list', sample({ notes: 'oops' }), { notes: [] }],
    ['a note that is not text', sample({ notes: ['a', { html: '<b>' }, 'b'] }), { notes: ['a', 'b'] }],
    ['an oversize note', sample({ notes: ['x'.repeat(5000)] }), { notes: ['x'.repeat(1000)] }],
    ['too many notes', sample({ notes: Array.from({ length: 100 }, (_, i) => `n${i}`) }), { notes: Array.from({ length: 20 }, (_, i) => `n${i}`) }],
    ['an OOM-kill count that is negative', sample({ oom_kills: -1 }), { oom_kills: null }],
    ['a running cell without its start', sample({ running_cell: { execution_count: 1 } }), { running_cell: null }]
  ])('keeps a sample with %s, without the bad part', (_, message, kept) => {
    const result = parseKernelMessage(message);
    expect(result.ok).toBe(true);
    if (result.ok) {
      expect(result.message).toEqual({ ...(message as object), ...kept });
      expect(result.problems.length).toBeGreaterThan(0);
    }
  });

  it('says nothing about a message that needed no repair', () => {
    const result = parseKernelMessage(sample({ gpus: [gpu()] }));
    expect(result.ok && result.problems).toEqual([]);
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
    ['a cell record of unknown status', { v: 1, type: 'cell', record: cellRecord({ status: 'exploded' }) }],
    ['a cell record without duration', { v: 1, type: 'cell', record: cellRecord({ duration: undefined }) }],
    ['a cell message without record', { v: 1, type: 'cell' }]
  ])('refuses %s', (_, message) => {
    expect(parseKernelMessage(message).ok).toBe(false);
  });

  const kept = (message: Record<string, unknown>) => {
    const result = parseKernelMessage(message);
    expect(result.ok).toBe(true);
    return result.ok ? (result.message as any) : null;
  };

  it('keeps a sample from 16 GPUs with too many notes, and cuts the GPUs at the cap', () => {
    const gpus = Array.from({ length: 16 }, (_, index) => gpu({ index }));
    const notes = Array.from({ length: 33 }, (_, i) => `GPU ${i % 16}: note ${i}`);
    const message = kept(sample({ gpus, notes }));
    expect(message.gpus).toEqual(gpus);
    expect(message.notes).toEqual(notes.slice(0, 20));
    expect(kept(sample({ gpus: Array(65).fill(gpu()) })).gpus).toHaveLength(64);
  });

  it.each([
    ['a GPU without a name', [gpu({ name: undefined })], [gpu({ name: '' })]],
    ['a GPU with a negative index', [gpu({ index: -1 }), gpu({ index: 1 })], [gpu({ index: 1 })]],
    ['GPUs as an object', { 0: gpu() }, null]
  ])('keeps a sample with %s', (_, gpus, expected) => {
    expect(kept(sample({ gpus })).gpus).toEqual(expected);
  });

  it('keeps a cell record without its unreadable parts', () => {
    // A record's findings are the predictor's, read as in a warning: one without its
    // line, size, device, verdict or message is left out.
    const finding = (warning().findings as Record<string, unknown>[])[0];
    const record = kept({
      v: 1,
      type: 'cell',
      record: cellRecord({
        findings: ['<b>', { kind: 'dense' }, finding],
        ram_peak: -3,
        notes: [1, 'n']
      })
    }).record;
    expect(record.findings).toEqual([finding]);
    expect(record.ram_peak).toBeNull();
    expect(record.notes).toEqual(['n']);
  });

  it('keeps a variable scan without the variables it cannot read, within its cap', () => {
    const scan = (variables: unknown[]) =>
      kept({ v: 1, type: 'variables', variables, truncated: false, took: 0 }).variables;
    expect(scan([variable({ name: 7 }), variable()])).toEqual([variable()]);
    expect(scan([variable({ shape: [1.5] })])[0].shape).toBeNull();
    expect(scan(Array(5001).fill(variable()))).toHaveLength(5000);
  });

  it('keeps leak hints with their texts cut, and at most 100', () => {
    const hint = { kind: 'growth', name: 'x', message: 'm'.repeat(3000), suggestion: 's', bytes: 5 };
    const hints = kept({ v: 1, type: 'hints', hints: Array(150).fill(hint) }).hints;
    expect(hints).toHaveLength(100);
    expect(hints[0]).toEqual({ ...hint, message: 'm'.repeat(1000) });
  });
});

describe("a warning's setting", () => {
  const read = (overrides: Record<string, unknown>) => {
    const result = parseKernelMessage(warning(overrides));
    expect(result.ok).toBe(true);
    return (result.ok ? result.message : null) as IWarningMessage;
  };

  it('is the guard mode that decided, where the kernel says it', () => {
    expect(warningSetting(read({ mode: 'block', setting: 'auto' }))).toBe('auto');
  });

  it('is what happened to the cell where an older shim says nothing, or says it badly', () => {
    expect(warningSetting(read({ mode: 'block' }))).toBe('block');
    const bad = read({ mode: 'warn', setting: 'shout', single_call: 'yes', page_cache: -1 });
    expect(warningSetting(bad)).toBe('warn');
    expect(bad.single_call).toBeUndefined();
    expect(bad.page_cache).toBeNull();
    expect(bad.findings).toHaveLength(warning().findings.length);
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

describe('a cluster the kernel drives (read field by field)', () => {
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
      expect(result).toEqual({ ok: true, message, problems: [] });
    }
  });

  it.each([
    ['no engine', { ...cluster, engine: undefined }],
    ['a string', 'dask']
  ])('leaves out a cluster with %s alone, keeping the record', (_, bad) => {
    const message = { v: 1, type: 'cell', record: cellRecord({ cluster: bad }) };
    const result = parseKernelMessage(message);
    expect(result.ok).toBe(true);
    if (result.ok && result.message.type === 'cell') {
      expect(result.problems).toContain('cell.record.cluster: unreadable, left out');
      expect(result.message.record.cluster).toBeUndefined();
      expect(result.message.record.execution_count).toBe(cellRecord().execution_count);
    }
    expect((message.record as Record<string, unknown>).cluster).toBe(bad); // input untouched
  });

  it.each([
    ['a negative peak', { ...cluster, peak: -1 }, (c: any) => expect(c.peak).toBeNull()],
    ['per_worker as a list', { ...cluster, per_worker: [365] }, (c: any) =>
      expect(c.per_worker).toEqual({})],
    ['a worker peak given as text', { ...cluster, per_worker: { a: '365', b: 7 } }, (c: any) =>
      expect(c.per_worker).toEqual({ b: 7 })],
    ['a restarted entry without its worker', { ...cluster, restarted: [{ reason: 'x' }] },
      (c: any) => expect(c.restarted).toEqual([])],
    [
      'a Ray kill whose node figures partly do not read',
      {
        ...cluster,
        lost: [
          {
            worker: 'ray worker 5a1f (pid 8) on node 10.0.0.7',
            reason: "Ray's memory monitor killed it",
            t: null,
            rss: null,
            limit: null,
            task: 'grow',
            node: 7,
            node_used: 'lots',
            node_total: 16,
            node_threshold: -1
          }
        ]
      },
      (c: any) =>
        expect(c.lost[0]).toMatchObject({
          task: 'grow',
          node: null,
          node_used: null,
          node_total: 16,
          node_threshold: null
        })
    ],
    [
      'too many workers',
      {
        ...cluster,
        per_worker: Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`w${i}`, 1]))
      },
      (c: any) => expect(Object.keys(c.per_worker)).toHaveLength(100)
    ]
  ])('keeps a cluster with %s, without what it cannot read', (_, bad, check) => {
    const result = parseKernelMessage({ v: 1, type: 'cell', record: cellRecord({ cluster: bad }) });
    expect(result.ok).toBe(true);
    if (result.ok && result.message.type === 'cell') {
      expect(result.problems.length).toBeGreaterThan(0);
      expect(result.message.record.cluster?.engine).toBe('dask');
      check(result.message.record.cluster);
    }
  });

  it('reads figures in a sample and in spooled entries field by field', () => {
    const bad = { ...figures, memory: 'lots' };
    const fromSample = parseKernelMessage(sample({ cluster: bad }));
    expect(fromSample.ok && (fromSample.message as ISampleMessage).cluster).toEqual({
      ...figures,
      memory: null
    });
    const spool = parseKernelMessage({
      v: 1,
      type: 'spool',
      pid: 4,
      since: null,
      samples: [sample({ cluster: figures }), sample({ cluster: 'x' })],
      cells: [cellRecord({ cluster: { ...cluster, engine: 3 } })],
      truncated: false,
      note: null
    });
    expect(spool.ok).toBe(true);
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
