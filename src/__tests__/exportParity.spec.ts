/// <reference types="node" />
/**
 * The browser's export and the shim's `oomguard.export()` follow one specification
 * (schema/exports.json): one timeline, exported by both (the shim's exporter run by the
 * project's Python on the same records), compared field by field in every format.
 */
import { execFileSync } from 'child_process';
import fs from 'fs';
import os from 'os';
import path from 'path';

import { exportTimeline, ExportFormat, ITimeline } from '../export/timeline';
import { ICellRecord, ISampleMessage, parseKernelMessage } from '../protocol';
import { cellRecord, parseCsv } from './fixtures';

const ROOT = path.resolve(__dirname, '../..');
// Both sides write local time in the zone the tests run in (jest.config.js sets one
// with a half-hour offset).
const ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;
const GiB = 2 ** 30;
const MiB = 2 ** 20;
const T0 = 1_750_000_000.25;

function python(): string {
  const venv = path.join(ROOT, '.venv', 'bin', 'python');
  return process.env.OOMGUARD_PYTHON ?? (fs.existsSync(venv) ? venv : 'python3');
}

const gpu = (index: number, used: number | null) => ({
  index,
  uuid: null,
  name: 'NVIDIA H100',
  used,
  total: 80 * GiB,
  process_used: used,
  torch_allocated: null,
  torch_reserved: used === null ? null : used + MiB,
  source: 'nvml'
});

/** A timeline with everything a column can come from (and GPUs 2 and 10). */
function bodies() {
  const samples = Array.from({ length: 12 }, (_, i) => ({
    t: T0 + i * 0.1 + (i === 7 ? 0.0000125 : 0),
    rss: 500 * MiB + Math.floor(i / 4) * 100 * MiB + (i === 5 ? 1 : 0),
    children_rss: i === 3 ? null : 0,
    limit: 8 * GiB,
    limit_source: 'cgroup v2',
    used: GiB + i * 3 * MiB,
    free: 7 * GiB - i * 3 * MiB,
    host_total: 64 * GiB,
    host_available: null,
    notes: i === 2 ? ['a, "quoted"\nnote', '', 'another'] : [],
    gpus: i < 4 ? [] : i === 6 ? [gpu(10, i * GiB)] : [gpu(10, i * GiB), gpu(2, null)],
    running_cell: i >= 4 && i < 9 ? { execution_count: 2, cell_id: 'c2', start: T0 + 0.4 } : null,
    oom_kills: 0,
    ...(i >= 8
      ? {
          cluster: {
            engine: 'dask',
            memory: (200 + i) * MiB,
            limit: i === 9 ? null : 2 * GiB,
            workers: 2
          }
        }
      : {})
  }));
  samples.push({ ...samples[11], t: T0 - 1 }); // out of order: the trace sorts by time
  const finding = (risky: boolean, kind: string) => ({
    kind,
    line: 3,
    bytes: 4 * GiB + 12345,
    peak_bytes: 8 * GiB,
    device: 'cpu',
    risky,
    message: 'A dense 32768 x 32768 float32 matrix, "quoted"',
    suggestion: 'use a sparse tensor',
    available: 2 * GiB,
    exact: true
  });
  const cell = (overrides: Record<string, unknown>) =>
    cellRecord({
      execution_count: 1,
      cell_id: 'c1',
      start: T0 + 0.1,
      duration: 0.2,
      ram_before: 500 * MiB,
      ram_after: 500 * MiB,
      ram_peak: 510 * MiB,
      ram_delta: 0,
      ram_peak_delta: 10 * MiB,
      ...overrides
    });
  const event = (worker: string, reason: string) => ({
    worker,
    reason,
    t: 1_795_714_539.9,
    rss: GiB,
    limit: GiB,
    task: 'hog-1',
    pid: 4242
  });
  const cells = [
    cell({}),
    cell({
      execution_count: 2,
      cell_id: 'x,"y"',
      start: T0 + 0.4,
      duration: 0.0000123,
      ram_before: 600 * MiB,
      ram_after: 700 * MiB,
      ram_peak: 900 * MiB + 1,
      ram_delta: null,
      ram_peak_delta: null,
      peak_method: 'sampled',
      container_peak: 2 * GiB,
      gpu: [
        { index: 10, before: GiB, after: 15 * GiB, peak: 16 * GiB },
        { index: 2, before: null, after: null, peak: null }
      ],
      status: 'error',
      stopped_by: 'watchdog',
      findings: [
        finding(true, 'dense_adjacency'),
        finding(false, 'dtype_copy'),
        finding(true, 'dense_adjacency')
      ],
      notes: ['peak sampled: VmHWM could not be reset', 'second; note'],
      cluster: {
        engine: 'dask',
        scheduler: 'tcp://127.0.0.1:8786',
        workers: 2,
        before: 200 * MiB,
        after: 712 * MiB,
        peak: 730 * MiB,
        limit: 2 * GiB,
        per_worker: { 'tcp://127.0.0.1:1': 365 * MiB, 'tcp://127.0.0.1:2': 360 * MiB },
        restarted: [event('tcp://127.0.0.1:3', 'its nanny restarted it')],
        lost: [event('tcp://127.0.0.1:4', '')],
        notes: ['sampled every 0.5 s']
      }
    }),
    cell({
      execution_count: null,
      cell_id: null,
      start: T0 + 1.0,
      duration: 0.05,
      ram_before: null,
      ram_after: null,
      ram_peak: null,
      ram_delta: null,
      ram_peak_delta: null,
      status: 'blocked'
    }),
    cell({
      execution_count: 4,
      start: T0 + 1.0,
      status: 'interrupted',
      gpu: [{ index: 0, before: 1, after: 2, peak: 3 }]
    })
  ];
  const session = { pid: 31337, hostname: 'gpu-node-7', python: '3.11.7', oomguard: '0.1.0' };
  return { samples, cells, session };
}

/** What the model holds: the messages as the front end read them. */
function browserTimeline(input: ReturnType<typeof bodies>): ITimeline {
  const read = (message: Record<string, unknown>) => {
    const result = parseKernelMessage(message);
    if (!result.ok || result.problems.length) {
      throw new Error(`the test's timeline is not valid as sent: ${JSON.stringify(result)}`);
    }
    return result.message as any;
  };
  return {
    samples: input.samples.map((body, i) => ({
      ...read({ v: 1, type: 'sample', ...body }),
      ...(i === 0 ? { from_spool: true } : {})
    })) as ISampleMessage[],
    cells: input.cells.map(record => read({ v: 1, type: 'cell', record }).record) as ICellRecord[],
    session: input.session
  };
}

/** The shim's export of the same records, by the project's Python. */
function shimExport(input: ReturnType<typeof bodies>, dir: string): Record<string, string> {
  const source = path.join(dir, 'timeline.input.json');
  fs.writeFileSync(source, JSON.stringify(input));
  const script = [
    'import json, sys',
    'from oomguard import exporters',
    'd = json.load(open(sys.argv[1]))',
    'for fmt, name in (("csv", "shim.csv"), ("json", "shim.json"), ("trace", "shim.trace.json")):',
    '    exporters.export(sys.argv[2] + "/" + name, fmt, d["samples"], d["cells"],',
    '                     session=d["session"])',
    'print(exporters.__file__)'
  ].join('\n');
  const where = execFileSync(python(), ['-c', script, source, dir], {
    env: { ...process.env, TZ: ZONE, PYTHONPATH: path.join(ROOT, 'python_shim') },
    encoding: 'utf8'
  });
  expect(where.trim()).toBe(path.join(ROOT, 'python_shim', 'oomguard', 'exporters.py'));
  const file = (name: string) => fs.readFileSync(path.join(dir, name), 'utf8');
  return {
    'samples.csv': file('shim.csv'),
    'cells.csv': file('shim.cells.csv'),
    json: file('shim.json'),
    trace: file('shim.trace.json')
  };
}

function browserExport(timeline: ITimeline): Record<string, string> {
  const one = (format: ExportFormat) => exportTimeline(timeline, format, 'browser');
  const [samples, cells] = one('csv');
  return {
    'samples.csv': samples.content,
    'cells.csv': cells.content,
    json: one('json')[0].content,
    trace: one('trace')[0].content
  };
}

/** The fields that differ, each named by its row and column. */
function csvDifferences(shim: string, browser: string): string[] {
  const [ours, theirs] = [parseCsv(shim), parseCsv(browser)];
  const header = ours[0];
  const found: string[] = [];
  if (JSON.stringify(header) !== JSON.stringify(theirs[0])) {
    found.push(`header: shim ${JSON.stringify(header)}, browser ${JSON.stringify(theirs[0])}`);
  }
  if (ours.length !== theirs.length) {
    found.push(`rows: shim ${ours.length - 1}, browser ${theirs.length - 1}`);
  }
  ours.slice(1).forEach((row, r) =>
    header.forEach((name, c) => {
      if (row[c] !== theirs[r + 1]?.[c]) {
        const [one, other] = [row[c], theirs[r + 1]?.[c]].map(v => JSON.stringify(v));
        found.push(`row ${r + 1} ${name}: shim ${one}, browser ${other}`);
      }
    })
  );
  return found;
}

/** The leaves that differ between two JSON values, each named by its path. */
function jsonDifferences(shim: unknown, browser: unknown, at = ''): string[] {
  const isObject = (value: unknown) => typeof value === 'object' && value !== null;
  if (isObject(shim) && isObject(browser)) {
    if (Array.isArray(shim) !== Array.isArray(browser)) {
      return [`${at}: shim ${JSON.stringify(shim)}, browser ${JSON.stringify(browser)}`];
    }
    const keys = new Set([...Object.keys(shim), ...Object.keys(browser)]);
    return [...keys].flatMap(key =>
      jsonDifferences((shim as any)[key], (browser as any)[key], `${at}/${key}`)
    );
  }
  return Object.is(shim, browser) || shim === browser
    ? []
    : [`${at}: shim ${JSON.stringify(shim)}, browser ${JSON.stringify(browser)}`];
}

describe('the browser and the shim export the same timeline alike', () => {
  let dir: string;
  let shim: Record<string, string>;
  let browser: Record<string, string>;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oomguard-parity-'));
    const input = bodies();
    shim = shimExport(input, dir);
    browser = browserExport(browserTimeline(input));
  });

  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it.each(['samples.csv', 'cells.csv'])('%s, field by field', name => {
    expect(csvDifferences(shim[name], browser[name])).toEqual([]);
    expect(browser[name]).toBe(shim[name]); // and byte for byte
  });

  it.each(['json', 'trace'])('the %s document, field by field', name => {
    expect(jsonDifferences(JSON.parse(shim[name]), JSON.parse(browser[name]))).toEqual([]);
  });

  it('covers what the columns are made of', () => {
    const [header, ...rows] = parseCsv(browser['samples.csv']);
    // GPU indexes in numeric order: 2 before 10.
    expect(header.filter(h => /^gpu\d+_used$/.test(h))).toEqual(['gpu2_used', 'gpu10_used']);
    expect(header.indexOf('notes')).toBeLessThan(header.indexOf('cluster_engine'));
    expect(rows[0][header.indexOf('time')]).toBe('2025-06-15T20:36:40.250+05:30');
    const [cellHeader, ...cells] = parseCsv(browser['cells.csv']);
    const second = (name: string) => cells[1][cellHeader.indexOf(name)];
    expect(second('ram_delta')).toBe(String(100 * MiB)); // derived where missing
    expect(second('duration')).toBe('0.0000123'); // never in exponent notation
    expect([second('findings'), second('risky_findings'), second('finding_kinds')]).toEqual([
      '3',
      '2',
      'dense_adjacency; dtype_copy'
    ]);
    expect(second('gpu10_peak')).toBe(String(16 * GiB));
    expect(second('cluster_lost')).toBe('tcp://127.0.0.1:4 (?)');
    const events = JSON.parse(browser.trace).traceEvents as any[];
    expect(events.some(e => e.name === 'GPU10 torch reserved')).toBe(true);
    expect(events.some(e => e.name === 'dask cluster limit')).toBe(true);
    expect(events[0].args.name).toBe('oomguard: kernel (pid 31337) on gpu-node-7');
    expect(JSON.parse(browser.json).samples[0].from_spool).toBeUndefined();
  });
});
