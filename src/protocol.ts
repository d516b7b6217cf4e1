/**
 * The oomguard comm protocol, front-end side (docs/protocol.md).
 *
 * This is the one place that knows the shape of the messages. Everything that comes
 * from the kernel passes through `parseKernelMessage` before any other code sees it:
 * a message that does not validate is dropped with a console warning, never thrown.
 */

/** The protocol version this extension speaks. */
export const PROTOCOL_VERSION = 1;

/** The comm target the shim registers in the kernel. */
export const COMM_TARGET = 'oomguard';

/** Limits on kernel-supplied data, so a hostile or broken payload cannot flood the page. */
const MAX_STRING = 1000;
const MAX_NOTES = 20;
const MAX_GPUS = 64;
const MAX_FINDINGS = 200;
const MAX_VARIABLES = 5000;
const MAX_DIMS = 32;
const MAX_SHARED = 100;
const MAX_HINTS = 100;
const MAX_DEVICES = 65;
/** What one `spool` answer may carry (the kernel thins its samples to fit). */
export const MAX_SPOOL_SAMPLES = 5000;
const MAX_SPOOL_CELLS = 2000;

/** Limits on what the front end sends for prediction (the kernel enforces the same). */
export const MAX_PREDICT_SOURCE = 100_000;
export const MAX_CELL_ID = 200;
const MAX_SIZES = 500;
/** A cluster's workers listed in one record, and those restarted or lost. */
const MAX_WORKERS = 100;
const MAX_WORKER_EVENTS = 50;

export interface IGpuReading {
  index: number;
  uuid: string | null;
  name: string;
  used: number | null;
  total: number | null;
  process_used: number | null;
  torch_allocated: number | null;
  torch_reserved: number | null;
  source: string;
}

export interface IRunningCell {
  execution_count: number | null;
  cell_id: string | null;
  start: number;
}

export interface IHelloMessage {
  v: number;
  type: 'hello';
  shim_version: string;
  pid: number;
  interval: number;
  python: string;
  peak_method: string;
  /**
   * The OOM killer's count for the kernel's memory cgroup (null: no counter here),
   * and the file it was read from. Absent from older shims.
   */
  oom_kills?: number | null;
  oom_kills_file?: string | null;
}

export interface ISampleMessage {
  v: number;
  type: 'sample';
  /** Epoch seconds. */
  t: number;
  /** Bytes; null means "not measured", never zero. */
  rss: number | null;
  children_rss: number | null;
  limit: number | null;
  limit_source: string;
  used: number | null;
  free: number | null;
  host_total: number | null;
  host_available: number | null;
  notes: string[];
  /** Absent from older shims; null when not measured; [] when there is no GPU. */
  gpus?: IGpuReading[] | null;
  running_cell?: IRunningCell | null;
  /** The OOM killer's count for the kernel's cgroup; absent from older shims. */
  oom_kills?: number | null;
  /** Only while a cluster's client is in the kernel's namespace (newer shims). */
  cluster?: IClusterFigures;
  /** Set by the model (never the kernel) on samples back-filled from a dead kernel's spool. */
  from_spool?: boolean;
}

/** The part of a dead kernel's spool the browser missed (answer to a `spool` request). */
export interface ISpoolMessage {
  v: number;
  type: 'spool';
  /** The dead kernel's pid, echoed. */
  pid: number;
  since: number | null;
  /** `sample` bodies (no `v`/`type`), oldest first, at most MAX_SPOOL_SAMPLES. */
  samples: Omit<ISampleMessage, 'v' | 'type'>[];
  /** Cells that ended after `since`. */
  cells: ICellRecord[];
  /** The samples were thinned (or cells cut) to fit. */
  truncated: boolean;
  /** Why there is nothing, in plain words (no spool found, unreadable). */
  note: string | null;
}

export interface IGpuCellReading {
  index: number;
  before: number | null;
  after: number | null;
  peak: number | null;
}

/** The newest figures of a cluster the kernel drives (a Dask cluster), in a sample. */
export interface IClusterFigures {
  engine: string;
  /** The workers' memory together (bytes); null while the cluster does not answer. */
  memory: number | null;
  /** Their memory limits together; null unless every worker has one. */
  limit: number | null;
  workers: number | null;
}

/** A worker restarted for memory or lost while a cell ran (or, `idle`, before it). */
export interface IWorkerEvent {
  worker: string;
  reason: string;
  /** Epoch seconds on the cluster's clock. */
  t: number | null;
  rss: number | null;
  limit: number | null;
  task: string | null;
  idle?: boolean;
}

/** A cluster's memory over one cell (docs/protocol.md, CellRecord `cluster`). */
export interface IClusterCellRecord {
  engine: string;
  scheduler: string | null;
  workers: number | null;
  /** Bytes, the workers together, sampled: at the start, at the end, the highest. */
  before: number | null;
  after: number | null;
  peak: number | null;
  limit: number | null;
  /** Each worker's highest memory during the cell, by address. */
  per_worker: Record<string, number>;
  restarted: IWorkerEvent[];
  lost: IWorkerEvent[];
  notes: string[];
}

export interface ICellRecord {
  execution_count: number | null;
  cell_id: string | null;
  start: number;
  duration: number;
  ram_before: number | null;
  ram_after: number | null;
  ram_peak: number | null;
  ram_delta: number | null;
  ram_peak_delta: number | null;
  peak_method: string;
  container_peak: number | null;
  gpu: IGpuCellReading[];
  status: 'ok' | 'error' | 'blocked' | 'interrupted';
  /** 'watchdog' when oomguard interrupted the cell to save the kernel (newer shims). */
  stopped_by?: string | null;
  findings: Record<string, unknown>[];
  notes: string[];
  /** Only where the kernel drives a cluster (newer shims). */
  cluster?: IClusterCellRecord;
}

export interface IVariableInfo {
  name: string;
  type: string;
  bytes: number | null;
  device: string | null;
  shape: number[] | null;
  dtype: string | null;
  shared_with: string[];
  truncated: boolean;
  grad_bytes: number | null;
  notes: string[];
}

/** Advice about memory that keeps growing (leaks.py in the shim). */
export interface ILeakHint {
  kind: string;
  name: string;
  message: string;
  suggestion: string;
  bytes: number | null;
}

export interface IHintsMessage {
  v: number;
  type: 'hints';
  hints: ILeakHint[];
}

/** One allocation the predictor recognised (python_shim/oomguard/predict). */
export interface IFinding {
  kind: string;
  line: number;
  bytes: number | null;
  peak_bytes: number;
  device: string;
  risky: boolean;
  message: string;
  suggestion: string;
}

/** Sent before a cell runs when it is predicted to exceed free memory. */
export interface IWarningMessage {
  v: number;
  type: 'warning';
  findings: IFinding[];
  execution_count: number | null;
  cell_id: string | null;
  mode: 'warn' | 'block';
  free: Record<string, number | null> | null;
  limit: number | null;
}

/** The answer to a `predict` request: the findings for a cell as it is being edited. */
export interface IPredictionMessage {
  v: number;
  type: 'prediction';
  /** The request's id, echoed. */
  id: number;
  cell_id: string | null;
  /** Every finding (risky or not); empty when `note` says why it could not be judged. */
  findings: IFinding[];
  free: Record<string, number | null>;
  limit: number | null;
  /** Seconds the kernel spent. */
  took: number;
  note?: string | null;
}

export interface IErrorMessage {
  v: number;
  type: 'error';
  message: string;
}

export interface ICellStartMessage extends IRunningCell {
  v: number;
  type: 'cell_start';
}

export interface ICellMessage {
  v: number;
  type: 'cell';
  record: ICellRecord;
}

export interface IVariablesMessage {
  v: number;
  type: 'variables';
  variables: IVariableInfo[];
  truncated: boolean;
  took: number;
}

/** The namespace's sizes after a cell: what each variable grew by comes from two. */
export interface ISizesMessage {
  v: number;
  type: 'sizes';
  /** The last cell that finished before the look (null when unknown). */
  execution_count: number | null;
  /** Bytes per variable name (null: not measured), the largest ones only. */
  sizes: Record<string, number | null>;
  truncated: boolean;
}

export type KernelMessage =
  | ISizesMessage
  | IHelloMessage
  | ISampleMessage
  | IErrorMessage
  | ICellStartMessage
  | ICellMessage
  | IVariablesMessage
  | IHintsMessage
  | IWarningMessage
  | IPredictionMessage
  | ISpoolMessage;

/** Front end → kernel. */
export type ClientMessage =
  | { v: number; type: 'open'; client: string }
  | { v: number; type: 'settings'; interval: number }
  | { v: number; type: 'refresh' }
  | { v: number; type: 'variables' }
  | { v: number; type: 'predict'; id: number; source: string; cell_id: string | null }
  | { v: number; type: 'spool'; pid: number; since: number | null };

/** Why a message was refused. */
export type ParseResult =
  | {
      ok: true;
      message: KernelMessage;
      /** Optional fields that were malformed and left out, e.g. "record.cluster". */
      dropped: string[];
    }
  | { ok: false; reason: string; versionMismatch?: number };

// ---------------------------------------------------------------------------
// Checks: small composable predicates, so each message's shape reads as a table.

type Check = (value: unknown) => boolean;
type Shape = Record<string, Check>;

function isDict(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const isNumber: Check = v => typeof v === 'number' && Number.isFinite(v);
const isCount: Check = v => isNumber(v) && (v as number) >= 0;
const isInteger: Check = v => isCount(v) && Number.isInteger(v);
const isText: Check = v => typeof v === 'string' && v.length <= MAX_STRING;
const isBool: Check = v => typeof v === 'boolean';

const nullable =
  (check: Check): Check =>
  v =>
    v === null || check(v);
/** For fields added after v1 first shipped: absent is fine. */
const optional =
  (check: Check): Check =>
  v =>
    v === undefined || check(v);
const oneOf =
  (...values: string[]): Check =>
  v =>
    typeof v === 'string' && values.includes(v);
const listOf =
  (check: Check, max: number): Check =>
  v =>
    Array.isArray(v) && v.length <= max && v.every(check);
const shaped =
  (shape: Shape): Check =>
  v =>
    isDict(v) && firstBadField(v, shape) === null;

function firstBadField(value: Record<string, unknown>, shape: Shape): string | null {
  for (const [field, check] of Object.entries(shape)) {
    if (!check(value[field])) {
      return field;
    }
  }
  return null;
}

const notes = listOf(isText, MAX_NOTES);

const gpuReading = shaped({
  index: isInteger,
  uuid: nullable(isText),
  name: isText,
  used: nullable(isCount),
  total: nullable(isCount),
  process_used: nullable(isCount),
  torch_allocated: nullable(isCount),
  torch_reserved: nullable(isCount),
  source: isText
});

const runningCell: Shape = {
  execution_count: nullable(isInteger),
  cell_id: nullable(isText),
  start: isCount
};

const cellRecord = shaped({
  ...runningCell,
  duration: isCount,
  ram_before: nullable(isCount),
  ram_after: nullable(isCount),
  ram_peak: nullable(isCount),
  ram_delta: nullable(isNumber),
  ram_peak_delta: nullable(isNumber),
  peak_method: isText,
  container_peak: nullable(isCount),
  gpu: listOf(
    shaped({
      index: isInteger,
      before: nullable(isCount),
      after: nullable(isCount),
      peak: nullable(isCount)
    }),
    MAX_GPUS
  ),
  status: oneOf('ok', 'error', 'blocked', 'interrupted'),
  stopped_by: optional(nullable(isText)),
  findings: listOf(isDict, MAX_FINDINGS),
  notes
});

const clusterFigures = shaped({
  engine: isText,
  memory: nullable(isCount),
  limit: nullable(isCount),
  workers: nullable(isInteger)
});

const workerEvent = shaped({
  worker: isText,
  reason: isText,
  t: nullable(isNumber),
  rss: nullable(isCount),
  limit: nullable(isCount),
  task: nullable(isText),
  idle: optional(isBool)
});

/** {"tcp://10.0.0.5:4000": bytes, …}, at most MAX_WORKERS workers. */
const bytesByWorker: Check = v =>
  isDict(v) &&
  Object.keys(v).length <= MAX_WORKERS &&
  Object.entries(v).every(([address, bytes]) => isText(address) && isCount(bytes));

const clusterRecord = shaped({
  engine: isText,
  scheduler: nullable(isText),
  workers: nullable(isInteger),
  before: nullable(isCount),
  after: nullable(isCount),
  peak: nullable(isCount),
  limit: nullable(isCount),
  per_worker: bytesByWorker,
  restarted: listOf(workerEvent, MAX_WORKER_EVENTS),
  lost: listOf(workerEvent, MAX_WORKER_EVENTS),
  notes
});

/**
 * Optional fields whose malformed value is left out alone, the rest of the message kept
 * (validation is field by field): a bad `cluster` costs the cluster's figures, never the
 * sample or the cell's record.
 */
const SEPARABLE_IN_SAMPLE: Shape = { cluster: clusterFigures };
const SEPARABLE_IN_RECORD: Shape = { cluster: clusterRecord };

function withoutBad(
  value: unknown,
  separable: Shape,
  path: string,
  dropped: string[]
): unknown {
  if (!isDict(value)) {
    return value; // the message's own check refuses it
  }
  let kept = value;
  for (const [field, check] of Object.entries(separable)) {
    if (value[field] !== undefined && !check(value[field])) {
      if (kept === value) {
        kept = { ...value };
      }
      delete kept[field];
      dropped.push(path + field);
    }
  }
  return kept;
}

/** The message with its malformed separable fields left out (a copy where any were). */
function separate(
  type: string,
  data: Record<string, unknown>,
  dropped: string[]
): Record<string, unknown> {
  const inEach = (list: unknown, separable: Shape, path: string) =>
    Array.isArray(list)
      ? list.map((item, i) => withoutBad(item, separable, `${path}[${i}].`, dropped))
      : list;
  switch (type) {
    case 'sample':
      return withoutBad(data, SEPARABLE_IN_SAMPLE, '', dropped) as Record<string, unknown>;
    case 'cell':
      return { ...data, record: withoutBad(data.record, SEPARABLE_IN_RECORD, 'record.', dropped) };
    case 'spool':
      return {
        ...data,
        samples: inEach(data.samples, SEPARABLE_IN_SAMPLE, 'samples'),
        cells: inEach(data.cells, SEPARABLE_IN_RECORD, 'cells')
      };
    default:
      return data;
  }
}

const finding = shaped({
  kind: isText,
  line: isInteger,
  bytes: optional(nullable(isCount)),
  peak_bytes: isCount,
  device: isText,
  risky: isBool,
  message: isText,
  suggestion: isText
});

/** {"cpu": bytes, "cuda:0": bytes or null, …} */
const freeByDevice: Check = v =>
  isDict(v) &&
  Object.keys(v).length <= MAX_DEVICES &&
  Object.entries(v).every(([key, bytes]) => isText(key) && nullable(isCount)(bytes));

const variableInfo = shaped({
  name: isText,
  type: isText,
  bytes: nullable(isCount),
  device: nullable(isText),
  shape: nullable(listOf(isInteger, MAX_DIMS)),
  dtype: nullable(isText),
  shared_with: listOf(isText, MAX_SHARED),
  truncated: isBool,
  grad_bytes: optional(nullable(isCount)),
  notes: optional(notes)
});

/** {"name": bytes or null, …}, at most MAX_SIZES names. */
const sizesByName: Check = v =>
  isDict(v) &&
  Object.keys(v).length <= MAX_SIZES &&
  Object.entries(v).every(([name, bytes]) => isText(name) && nullable(isCount)(bytes));

/** A `sample` message's fields; also each sample of a `spool` answer. */
const sampleShape: Shape = {
  t: isCount,
  rss: nullable(isCount),
  children_rss: nullable(isCount),
  limit: nullable(isCount),
  limit_source: isText,
  used: nullable(isCount),
  free: nullable(isCount),
  host_total: nullable(isCount),
  host_available: nullable(isCount),
  notes,
  gpus: optional(nullable(listOf(gpuReading, MAX_GPUS))),
  running_cell: optional(nullable(shaped(runningCell))),
  oom_kills: optional(nullable(isInteger))
};

/** The fields each kernel → front end message must have (extra fields are allowed). */
const MESSAGE_SHAPES: Record<KernelMessage['type'], Shape> = {
  hello: {
    shim_version: isText,
    pid: isInteger,
    interval: v => isCount(v) && (v as number) > 0,
    python: isText,
    peak_method: isText,
    oom_kills: optional(nullable(isInteger)),
    oom_kills_file: optional(nullable(isText))
  },
  sample: sampleShape,
  spool: {
    pid: isInteger,
    since: nullable(isCount),
    samples: listOf(shaped(sampleShape), MAX_SPOOL_SAMPLES),
    cells: listOf(cellRecord, MAX_SPOOL_CELLS),
    truncated: isBool,
    note: nullable(isText)
  },
  error: { message: isText },
  cell_start: runningCell,
  cell: { record: cellRecord },
  variables: {
    variables: listOf(variableInfo, MAX_VARIABLES),
    truncated: isBool,
    took: isCount
  },
  sizes: {
    execution_count: nullable(isInteger),
    sizes: sizesByName,
    truncated: isBool
  },
  warning: {
    findings: listOf(finding, MAX_FINDINGS),
    execution_count: nullable(isInteger),
    cell_id: nullable(isText),
    mode: oneOf('warn', 'block'),
    free: nullable(freeByDevice),
    limit: nullable(isCount)
  },
  prediction: {
    id: isInteger,
    cell_id: nullable(isText),
    findings: listOf(finding, MAX_FINDINGS),
    free: freeByDevice,
    limit: nullable(isCount),
    took: isCount,
    note: optional(nullable(isText))
  },
  hints: {
    hints: listOf(
      shaped({
        kind: isText,
        name: isText,
        message: isText,
        suggestion: isText,
        bytes: optional(nullable(isCount))
      }),
      MAX_HINTS
    )
  }
};

/**
 * Validate a message received from the kernel.
 *
 * Extra fields are allowed (the protocol may add fields without a version bump);
 * missing or mistyped known fields are not, except the separable ones (`cluster`),
 * which are left out alone and named in `dropped`.
 */
export function parseKernelMessage(data: unknown): ParseResult {
  if (!isDict(data)) {
    return { ok: false, reason: 'not a JSON object' };
  }
  if (data.v !== PROTOCOL_VERSION) {
    const other = typeof data.v === 'number' ? data.v : undefined;
    return {
      ok: false,
      reason: `protocol version ${String(data.v)} (expected ${PROTOCOL_VERSION})`,
      versionMismatch: other
    };
  }
  const type = data.type;
  if (typeof type !== 'string' || !Object.prototype.hasOwnProperty.call(MESSAGE_SHAPES, type)) {
    return { ok: false, reason: `unknown message type ${JSON.stringify(type)}` };
  }
  const dropped: string[] = [];
  const kept = separate(type, data, dropped);
  const bad = firstBadField(kept, MESSAGE_SHAPES[type as KernelMessage['type']]);
  if (bad !== null) {
    return { ok: false, reason: `${type}: bad or missing field "${bad}"` };
  }
  return { ok: true, message: kept as unknown as KernelMessage, dropped };
}

/** Build a front end → kernel message. */
export function clientMessage(
  body:
    | { type: 'open'; client: string }
    | { type: 'settings'; interval: number }
    | { type: 'refresh' }
    | { type: 'variables' }
    | { type: 'predict'; id: number; source: string; cell_id: string | null }
    | { type: 'spool'; pid: number; since: number | null }
): ClientMessage {
  return { v: PROTOCOL_VERSION, ...body } as ClientMessage;
}

/**
 * A `predict` request, or null where it must not be sent: a source over
 * MAX_PREDICT_SOURCE characters, a cell id over MAX_CELL_ID, or a bad id.
 */
export function predictMessage(
  id: number,
  source: string,
  cellId: string | null
): ClientMessage | null {
  if (
    !Number.isSafeInteger(id) ||
    id < 0 ||
    source.length > MAX_PREDICT_SOURCE ||
    (cellId !== null && cellId.length > MAX_CELL_ID)
  ) {
    return null;
  }
  return clientMessage({ type: 'predict', id, source, cell_id: cellId });
}
