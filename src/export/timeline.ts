/**
 * The notebook's memory timeline as files, built in the browser from the model, so an
 * export works even after the kernel died. The formats match the shim's
 * `oomguard.export()` (docs/measurements.md): JSON of the protocol's samples and cell
 * records, CSV (samples, and cells in a second file), and Chrome Trace Event JSON
 * that opens in Perfetto.
 */
import { ICellRecord, ISampleMessage } from '../protocol';

export interface ITimeline {
  samples: readonly ISampleMessage[];
  cells: readonly ICellRecord[];
}

export interface IExportFile {
  name: string;
  mime: string;
  content: string;
}

export type ExportFormat = 'csv' | 'json' | 'trace';

const MiB = 2 ** 20;

export function exportTimeline(
  timeline: ITimeline,
  format: ExportFormat,
  stem: string
): IExportFile[] {
  switch (format) {
    case 'json':
      return [{ name: `${stem}.json`, mime: 'application/json', content: toJson(timeline) }];
    case 'trace':
      return [
        { name: `${stem}.trace.json`, mime: 'application/json', content: toTrace(timeline) }
      ];
    case 'csv':
      return [
        { name: `${stem}.csv`, mime: 'text/csv', content: samplesCsv(timeline.samples) },
        { name: `${stem}.cells.csv`, mime: 'text/csv', content: cellsCsv(timeline.cells) }
      ];
  }
}

export function toJson(timeline: ITimeline): string {
  const strip = ({ v, type, ...body }: ISampleMessage) => body;
  return JSON.stringify({
    format: 'oomguard-timeline',
    version: 1,
    session: null,
    samples: timeline.samples.map(strip),
    cells: timeline.cells
  });
}

const SAMPLE_COLUMNS = [
  'rss',
  'children_rss',
  'used',
  'limit',
  'free',
  'limit_source',
  'host_total',
  'host_available'
] as const;

export function samplesCsv(samples: readonly ISampleMessage[]): string {
  const gpus = [...new Set(samples.flatMap(s => (s.gpus ?? []).map(g => g.index)))].sort();
  const gpuFields = ['used', 'total', 'process_used', 'torch_allocated', 'torch_reserved'] as const;
  const header = [
    'time',
    't',
    ...SAMPLE_COLUMNS,
    'running_cell',
    ...gpus.flatMap(i => gpuFields.map(f => `gpu${i}_${f}`)),
    'notes'
  ];
  const rows = samples.map(s => [
    new Date(s.t * 1000).toISOString(),
    s.t,
    ...SAMPLE_COLUMNS.map(c => s[c]),
    s.running_cell?.execution_count ?? null,
    ...gpus.flatMap(i => {
      const gpu = (s.gpus ?? []).find(g => g.index === i);
      return gpuFields.map(f => gpu?.[f] ?? null);
    }),
    s.notes.join('; ')
  ]);
  return csv([header, ...rows]);
}

const CELL_COLUMNS = [
  'execution_count',
  'cell_id',
  'start',
  'duration',
  'status',
  'ram_before',
  'ram_after',
  'ram_peak',
  'ram_delta',
  'ram_peak_delta',
  'peak_method',
  'container_peak'
] as const;

export function cellsCsv(cells: readonly ICellRecord[]): string {
  const rows = cells.map(c => [
    ...CELL_COLUMNS.map(column => c[column]),
    c.findings.length,
    c.notes.join('; ')
  ]);
  return csv([[...CELL_COLUMNS, 'findings', 'notes'], ...rows]);
}

/** RFC 4180: quote fields with commas, quotes or line breaks; null is empty. */
function csv(rows: unknown[][]): string {
  const field = (value: unknown) => {
    if (value === null || value === undefined) {
      return '';
    }
    const text = String(value);
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return rows.map(row => row.map(field).join(',')).join('\r\n') + '\r\n';
}

/** Chrome Trace Event format: memory counters in MiB, one complete event per cell. */
export function toTrace(timeline: ITimeline): string {
  const pid = 1;
  const events: Record<string, unknown>[] = [
    { ph: 'M', name: 'process_name', pid, tid: 0, ts: 0, args: { name: 'kernel (oomguard)' } },
    { ph: 'M', name: 'thread_name', pid, tid: 1, ts: 0, args: { name: 'cells' } }
  ];
  const counter = (name: string, t: number, bytes: number | null | undefined) => {
    if (bytes !== null && bytes !== undefined) {
      events.push({ ph: 'C', name, pid, tid: 0, ts: Math.round(t * 1e6), args: { MiB: bytes / MiB } });
    }
  };
  for (const s of timeline.samples) {
    counter('kernel RSS', s.t, s.rss);
    counter('children RSS', s.t, s.children_rss);
    counter('session used', s.t, s.used);
    counter('session limit', s.t, s.limit);
    for (const gpu of s.gpus ?? []) {
      counter(`GPU${gpu.index} used`, s.t, gpu.used);
      counter(`GPU${gpu.index} torch allocated`, s.t, gpu.torch_allocated);
    }
  }
  for (const c of timeline.cells) {
    events.push({
      ph: 'X',
      name: `cell [${c.execution_count ?? ' '}]`,
      pid,
      tid: 1,
      ts: Math.round(c.start * 1e6),
      dur: Math.round(c.duration * 1e6),
      args: {
        status: c.status,
        ram_delta_MiB: c.ram_delta === null ? null : c.ram_delta / MiB,
        ram_peak_delta_MiB: c.ram_peak_delta === null ? null : c.ram_peak_delta / MiB,
        peak_method: c.peak_method,
        cell_id: c.cell_id
      }
    });
  }
  events.sort((a, b) => (a.ts as number) - (b.ts as number));
  return JSON.stringify({ traceEvents: events, displayTimeUnit: 'ms' });
}

/** Offer the files to the user as downloads. */
export function download(files: IExportFile[]): void {
  for (const file of files) {
    const url = URL.createObjectURL(new Blob([file.content], { type: file.mime }));
    const link = document.createElement('a');
    link.href = url;
    link.download = file.name;
    document.body.appendChild(link);
    link.click();
    link.remove();
    window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }
}
