/**
 * The notebook's memory timeline as files, built in the browser from the model, so an
 * export works even after the kernel died. What each format holds is specified once, in
 * schema/exports.json, which the shim's `oomguard.export()` (exporters.py) follows too:
 * JSON of the protocol's samples and cell records, CSV (samples, and cells in a second
 * file), and Chrome Trace Event JSON that opens in Perfetto. A test exports one timeline
 * from both and compares them field by field (exportParity.spec.ts).
 */
import { ICellRecord, ISampleMessage } from '../protocol';
import { EXPORT_SPEC } from '../schema/documents';

export interface ITimeline {
  samples: readonly ISampleMessage[];
  cells: readonly ICellRecord[];
  /** The kernel's pid, Python, host... where known (the trace names its process). */
  session?: Record<string, unknown> | null;
}

export interface IExportFile {
  name: string;
  mime: string;
  content: string;
}

export type ExportFormat = 'csv' | 'json' | 'trace';

type Row = Record<string, unknown>;

/** A column (or trace argument) of the specification. */
interface IColumn {
  name: string;
  field?: string;
  difference?: [string, string];
  as: string;
  where?: string;
  of?: string;
  columns?: IColumn[];
}

interface ITable {
  columns: IColumn[];
  clusterColumns: IColumn[];
  gpus: string;
  gpuColumns: IColumn[];
}

const MiB = 2 ** 20;
const ABSENT = Symbol('absent');

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

// -- values (schema/exports.json, "kinds") -------------------------------------------

const isDict = (value: unknown): value is Row =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const finite = (value: unknown): number | null =>
  typeof value === 'number' && Number.isFinite(value) ? value : null;
const integer = (value: unknown): number | null => {
  const number = finite(value);
  return number === null ? null : Math.trunc(number);
};
const text = (value: unknown): string | null => (typeof value === 'string' ? value : null);
const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
const mib = (value: unknown): number | null => {
  const number = finite(value);
  return number === null ? null : Math.floor((number / MiB) * 1000 + 0.5) / 1000;
};

/** The value at a dotted path of nested objects; null where there is none. */
function get(record: unknown, path: string): unknown {
  let value = record;
  for (const name of path.split('.')) {
    if (!isDict(value)) {
      return null;
    }
    value = value[name];
  }
  return value ?? null;
}

/** `value` where it is a non-negative integer, else the item's position in its list. */
function position(value: unknown, at: number): number {
  const number = finite(value);
  return number !== null && number >= 0 && Number.isInteger(number) ? number : at;
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** Epoch seconds as ISO 8601 local time with its offset, to the millisecond (floored). */
export function localTime(t: unknown): string {
  const seconds = finite(t);
  const date = new Date(seconds === null ? NaN : Math.floor(seconds * 1000));
  if (Number.isNaN(date.getTime()) || date.getFullYear() > 9999 || date.getFullYear() < 1) {
    return '';
  }
  const offset = -date.getTimezoneOffset();
  const sign = offset < 0 ? '-' : '+';
  return (
    `${pad(date.getFullYear(), 4)}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}` +
    `.${pad(date.getMilliseconds(), 3)}` +
    `${sign}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`
  );
}

const joined = (values: unknown) =>
  list(values)
    .filter((one): one is string => typeof one === 'string' && one !== '')
    .join('; ');

function written(record: unknown, columns: IColumn[], at = 0): Row {
  const row: Row = {};
  for (const column of columns) {
    const value = valueOf(record, column, at);
    if (value !== ABSENT) {
      row[column.name] = value;
    }
  }
  return row;
}

/** One column's value of one record, as schema/exports.json says. */
function valueOf(record: unknown, column: IColumn, at = 0): unknown {
  let value = column.field ? get(record, column.field) : null;
  if (column.difference && finite(value) === null) {
    const [first, second] = column.difference.map(path => integer(get(record, path)));
    value = first !== null && second !== null ? first - second : null;
  }
  switch (column.as) {
    case 'text':
      return text(value);
    case 'integer':
      return integer(value);
    case 'number':
      return finite(value);
    case 'localTime':
      return localTime(value);
    case 'MiB':
      return mib(value);
    case 'joined':
      return joined(value);
    case 'texts':
      return list(value).filter(one => typeof one === 'string' && one !== '');
    case 'count':
      return list(value).filter(
        item => isDict(item) && (!column.where || item[column.where] === true)
      ).length;
    case 'distinct': {
      const found = list(value)
        .map(item => (isDict(item) ? text(item[column.of!]) : null))
        .filter((one): one is string => !!one);
      return [...new Set(found)].join('; ');
    }
    case 'pairs':
      return isDict(value)
        ? Object.entries(value)
            .map(([key, one]) => `${key}=${csvField(integer(one))}`)
            .join('; ')
        : null;
    case 'workerEvents':
      return list(value)
        .filter(isDict)
        .map(event => `${text(event.worker) || '?'} (${text(event.reason) || '?'})`)
        .join('; ');
    case 'isTrue':
      return value === true;
    case 'position':
      return position(value, at);
    case 'each':
      return list(value).flatMap((item, i) =>
        isDict(item) ? [written(item, column.columns!, i)] : []
      );
    case 'object':
      return isDict(value) ? written(value, column.columns!) : ABSENT;
  }
  throw new Error(`schema/exports.json: unknown kind ${column.as}`);
}

/** (index, GPU) for each well-formed entry of a record's GPU list. */
function gpus(record: unknown, key: string): [number, Row][] {
  return list(get(record, key)).flatMap((gpu, i): [number, Row][] =>
    isDict(gpu) ? [[position(gpu.index, i), gpu]] : []
  );
}

// -- CSV -------------------------------------------------------------------------------

/** The shortest decimal that reads back as `value`, never in exponent notation. */
function positional(value: number): string {
  const match = /^(-?)(\d+)(?:\.(\d+))?e([+-]\d+)$/.exec(String(value));
  if (!match) {
    return String(value);
  }
  const [, sign, whole, fraction = '', exponent] = match;
  const digits = whole + fraction;
  const point = whole.length + Number(exponent);
  if (point <= 0) {
    return `${sign}0.${'0'.repeat(-point)}${digits}`;
  }
  if (point >= digits.length) {
    return sign + digits + '0'.repeat(point - digits.length);
  }
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

function csvField(value: unknown): string {
  if (typeof value === 'string') {
    return value;
  }
  const number = finite(value);
  if (number === null) {
    return '';
  }
  if (Number.isInteger(number) && Math.abs(number) < 2 ** 63) {
    return Math.abs(number) < Number.MAX_SAFE_INTEGER
      ? String(number)
      : BigInt(number).toString();
  }
  return positional(number);
}

/** RFC 4180: quote fields with commas, quotes or line breaks; CRLF line ends. */
function csv(rows: string[][]): string {
  const quoted = (field: string) =>
    /[",\r\n]/.test(field) ? `"${field.replace(/"/g, '""')}"` : field;
  return rows.map(row => row.map(quoted).join(',')).join('\r\n') + '\r\n';
}

function table(spec: ITable, records: readonly unknown[]): string {
  const columns = records.some(record => isDict(get(record, 'cluster')))
    ? [...spec.columns, ...spec.clusterColumns]
    : spec.columns;
  const indexes = [
    ...new Set(records.flatMap(record => gpus(record, spec.gpus).map(([index]) => index)))
  ].sort((a, b) => a - b);
  const header = [
    ...columns.map(column => column.name),
    ...indexes.flatMap(index => spec.gpuColumns.map(column => `gpu${index}_${column.name}`))
  ];
  const rows = records.map(record => {
    const byIndex = new Map(gpus(record, spec.gpus));
    return [
      ...columns.map(column => csvField(valueOf(record, column))),
      ...indexes.flatMap(index =>
        spec.gpuColumns.map(column => csvField(valueOf(byIndex.get(index) ?? {}, column)))
      )
    ];
  });
  return csv([header, ...rows]);
}

export function samplesCsv(samples: readonly ISampleMessage[]): string {
  return table(EXPORT_SPEC.csv.samples, samples);
}

export function cellsCsv(cells: readonly ICellRecord[]): string {
  return table(EXPORT_SPEC.csv.cells, cells);
}

// -- JSON ------------------------------------------------------------------------------

export function toJson(timeline: ITimeline): string {
  const drop = new Set<string>(EXPORT_SPEC.json.sampleDrop);
  const body = (sample: ISampleMessage) =>
    Object.fromEntries(Object.entries(sample).filter(([key]) => !drop.has(key)));
  return JSON.stringify({
    format: EXPORT_SPEC.json.format,
    version: EXPORT_SPEC.json.version,
    session: isDict(timeline.session) ? timeline.session : null,
    samples: timeline.samples.map(body),
    cells: timeline.cells
  });
}

// -- Chrome trace ----------------------------------------------------------------------

const microseconds = (seconds: number) => Math.floor(seconds * 1e6 + 0.5);

/** (counter name, bytes) for each memory figure of one sample. */
function series(sample: ISampleMessage): [string, unknown][] {
  const counters = EXPORT_SPEC.trace.counters;
  const found: [string, unknown][] = counters.sample.map((counter: IColumn) => [
    counter.name,
    get(sample, counter.field!)
  ]);
  const cluster = get(sample, 'cluster');
  if (isDict(cluster)) {
    const engine = text(cluster.engine) || counters.clusterEngine;
    for (const counter of counters.cluster as IColumn[]) {
      found.push([counter.name.replace('{engine}', engine), get(cluster, counter.field!)]);
    }
  }
  for (const [index, gpu] of gpus(sample, EXPORT_SPEC.csv.samples.gpus)) {
    for (const counter of counters.gpu as IColumn[]) {
      found.push([counter.name.replace('{index}', String(index)), get(gpu, counter.field!)]);
    }
  }
  return found;
}

/** Counters in time order: a value where it changes, and at the last sample. */
function counterEvents(samples: readonly ISampleMessage[], pid: number): Row[] {
  const timed = samples
    .filter(sample => finite(sample.t) !== null)
    .sort((a, b) => a.t - b.t);
  const last = new Map<string, number>();
  const events: Row[] = [];
  timed.forEach((sample, i) => {
    const final = i === timed.length - 1;
    const ts = microseconds(sample.t);
    for (const [name, bytes] of series(sample)) {
      const value = mib(bytes);
      if (value === null || (last.get(name) === value && !final)) {
        continue;
      }
      last.set(name, value);
      events.push({ name, ph: 'C', ts, pid, tid: pid, cat: 'memory', args: { MiB: value } });
    }
  });
  return events;
}

function cellEvent(cell: ICellRecord, pid: number): Row | null {
  const spec = EXPORT_SPEC.trace.cell;
  const start = finite(cell.start);
  if (start === null) {
    return null;
  }
  const count = integer(cell.execution_count);
  const event: Row = {
    name: spec.name.replace('{execution_count}', count === null ? spec.unnamed : String(count)),
    cat: 'cell',
    ph: 'X',
    ts: microseconds(start),
    dur: microseconds(Math.max(0, finite(cell.duration) ?? 0)),
    pid,
    tid: pid,
    args: written(cell, spec.args)
  };
  const colour = typeof cell.status === 'string' ? spec.colours[cell.status] : undefined;
  if (colour !== undefined) {
    event.cname = colour;
  }
  return event;
}

/** Chrome Trace Event format: memory counters in MiB, one complete event per cell. */
export function toTrace(timeline: ITimeline): string {
  const spec = EXPORT_SPEC.trace;
  const session = isDict(timeline.session) ? timeline.session : {};
  const known = integer(session.pid);
  const pid = known !== null && known > 0 && known < 2 ** 31 ? known : 1;
  const host = text(session.hostname);
  const process = (host ? spec.processOnHost : spec.process)
    .replace('{pid}', String(pid))
    .replace('{hostname}', host ?? '');
  const counters = counterEvents(timeline.samples, pid);
  const slices = timeline.cells
    .map(cell => cellEvent(cell, pid))
    .filter((event): event is Row => event !== null)
    .sort((a, b) => (a.ts as number) - (b.ts as number));
  // Merged in time order; at equal times the counters first.
  const events: Row[] = [];
  let c = 0;
  let s = 0;
  while (c < counters.length || s < slices.length) {
    const takeCounter =
      s >= slices.length ||
      (c < counters.length && (counters[c].ts as number) <= (slices[s].ts as number));
    events.push(takeCounter ? counters[c++] : slices[s++]);
  }
  return JSON.stringify({
    displayTimeUnit: 'ms',
    otherData: { producer: spec.producer, session: isDict(timeline.session) ? session : null },
    traceEvents: [
      { name: 'process_name', ph: 'M', ts: 0, pid, tid: pid, args: { name: process } },
      { name: 'thread_name', ph: 'M', ts: 0, pid, tid: pid, args: { name: spec.thread } },
      ...events
    ]
  });
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
