import { exportTimeline, toTrace } from '../export/timeline';
import { ICellRecord, ISampleMessage } from '../protocol';
import { cellRecord, gpu, parseCsv, sample } from './fixtures';

const samples = [
  sample({ t: 100, rss: 100 * 2 ** 20, notes: ['a, "quoted" note'] }),
  sample({ t: 101, rss: 612 * 2 ** 20, gpus: [gpu({ index: 1 })], running_cell: { execution_count: 3, cell_id: 'c', start: 100.5 } }),
  sample({ t: 102, rss: null })
] as unknown as ISampleMessage[];
const cells = [
  cellRecord({ execution_count: 3, start: 100.5, duration: 1.25 }),
  cellRecord({ execution_count: 4, start: 102, duration: 0.5, status: 'error', cell_id: 'x,y' })
] as unknown as ICellRecord[];
const timeline = { samples, cells };

describe('exportTimeline', () => {
  it('writes JSON that round-trips the samples and records', () => {
    const [file] = exportTimeline(timeline, 'json', 'demo-memory');
    expect(file.name).toBe('demo-memory.json');
    const data = JSON.parse(file.content);
    expect(data.format).toBe('oomguard-timeline');
    expect(data.samples).toHaveLength(3);
    expect(data.samples[1].rss).toBe(612 * 2 ** 20);
    expect(data.samples[0].type).toBeUndefined();
    expect(data.cells).toEqual(cells);
  });

  it('writes two CSV files that parse and match the records', () => {
    const [samplesFile, cellsFile] = exportTimeline(timeline, 'csv', 'demo');
    expect([samplesFile.name, cellsFile.name]).toEqual(['demo.csv', 'demo.cells.csv']);
    const rows = parseCsv(samplesFile.content);
    const header = rows[0];
    expect(rows).toHaveLength(4);
    const rss = header.indexOf('rss');
    expect(rows.slice(1).map(r => r[rss])).toEqual([String(100 * 2 ** 20), String(612 * 2 ** 20), '']);
    expect(rows[1][header.indexOf('notes')]).toBe('a, "quoted" note');
    expect(rows[2][header.indexOf('gpu1_used')]).toBe(String(3 * 2 ** 30));
    expect(rows[2][header.indexOf('running_cell')]).toBe('3');

    const cellRows = parseCsv(cellsFile.content);
    const cellHeader = cellRows[0];
    expect(cellRows).toHaveLength(3);
    expect(cellRows[2][cellHeader.indexOf('cell_id')]).toBe('x,y');
    expect(cellRows[2][cellHeader.indexOf('status')]).toBe('error');
    expect(Number(cellRows[1][cellHeader.indexOf('ram_delta')])).toBe(512 * 2 ** 20);
  });

  it('writes a Chrome trace: counters in MiB and a complete event per cell', () => {
    const trace = JSON.parse(toTrace(timeline));
    const events = trace.traceEvents as any[];
    for (const event of events) {
      expect(typeof event.ph).toBe('string');
      expect(typeof event.ts).toBe('number');
      expect(typeof event.pid).toBe('number');
      expect(typeof event.tid).toBe('number');
    }
    const ts = events.map(e => e.ts);
    expect([...ts].sort((a, b) => a - b)).toEqual(ts);
    const rss = events.filter(e => e.ph === 'C' && e.name === 'kernel RSS');
    expect(rss.map(e => e.args.MiB)).toEqual([100, 612]);
    const spans = events.filter(e => e.ph === 'X');
    expect(spans.map(e => [e.name, e.ts, e.dur])).toEqual([
      ['cell [3]', 100_500_000, 1_250_000],
      ['cell [4]', 102_000_000, 500_000]
    ]);
    expect(events.some(e => e.name === 'GPU1 used')).toBe(true);
  });
});
