/**
 * The oomguard comm protocol, front-end side (docs/protocol.md).
 *
 * This is the one place that knows the shape of the messages. Everything that comes
 * from the kernel passes through `parseKernelMessage` before any other code sees it,
 * which keeps what is valid field by field (a bad field is left out or taken as not
 * measured, a list cut to its cap) and says what it left out; a message is dropped,
 * with a console warning, never thrown, only when it cannot be used at all.
 */

/** The protocol version this extension speaks. */
export const PROTOCOL_VERSION = 1;

/** The comm target the shim registers in the kernel. */
export const COMM_TARGET = 'oomguard';

/**
 * Limits on kernel-supplied data, so a hostile or broken payload cannot flood the page.
 * The shim's message builders keep within the same numbers (python_shim/oomguard/
 * protocol.py; python_shim/tests/test_protocol.py checks they agree).
 */
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
  /**
   * True where one OOM kill ends every process of the container together (cgroup v2
   * memory.oom.group = 1, as Kubernetes 1.28+ sets it), read from `oom_group_file`;
   * false where not; null where it cannot be known. Absent from older shims.
   */
  oom_group?: boolean | null;
  oom_group_file?: string | null;
  /**
   * The memory cgroup's high-water mark (bytes, page cache included: v1
   * memory.max_usage_in_bytes, v2 memory.peak), read from `cgroup_peak_file`: after a
   * death, what the dead kernel's group reached, which no sample may have caught. Null
   * where not measured; absent from older shims.
   */
  cgroup_peak?: number | null;
  cgroup_peak_file?: string | null;
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
  /**
   * Ray only: the node (its address) and its memory when Ray's memory monitor killed
   * the task: used, total and the kill threshold (bytes); null where not measured.
   */
  node?: string | null;
  node_used?: number | null;
  node_total?: number | null;
  node_threshold?: number | null;
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
  /**
   * The size follows from known shapes and dtypes (true) or is an estimate (false,
   * or absent: older shims and predictors).
   */
  exact?: boolean;
}

/** The guard's mode: `auto` blocks only what exactly cannot fit (docs/guard.md). */
export type GuardSetting = 'auto' | 'warn' | 'block';

/** Sent before a cell runs when it is predicted not to fit in free memory. */
export interface IWarningMessage {
  v: number;
  type: 'warning';
  findings: IFinding[];
  execution_count: number | null;
  cell_id: string | null;
  /** What happened to the cell: `warn` it runs, `block` it was stopped. */
  mode: 'warn' | 'block';
  free: Record<string, number | null> | null;
  limit: number | null;
  /** The guard's mode that decided (absent from older shims: as `mode`). */
  setting?: GuardSetting;
  /**
   * One call in the cell is bigger than what is free and the hard cap is off: only the
   * cap (or not running the cell) can stop it.
   */
  single_call?: boolean;
  /** Page cache counted as free on the host (bytes), reclaimed only when needed. */
  page_cache?: number | null;
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

/**
 * What became of a message: kept (with what was left out or cut, for a console
 * warning), or refused, with the reason.
 */
export type ParseResult =
  | { ok: true; message: KernelMessage; problems: string[] }
  | { ok: false; reason: string; versionMismatch?: number };

// ---------------------------------------------------------------------------
// Readers: small composable functions, so each message's shape reads as a table.
//
// A reader returns the value to keep, repaired where it can be (a text cut to
// MAX_STRING, a list cut to its cap and rid of items that do not read), or BAD. Each
// repair is said in `problems`. How a BAD field is taken depends on its wrapper:
// `nullable` makes it null ("not measured"), `optional` leaves it out, `orElse` puts
// a stated default; a bare reader marks a field the message cannot do without (its
// identity: a sample's time, a hello's pid, a prediction's id…), and only then is the
// object (or the message) refused. So one bad field never costs a whole message.

const BAD = Symbol('bad');
type Reader = (value: unknown, at: string, problems: string[]) => unknown;
type Shape = Record<string, Reader>;

function isDict(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const valid =
  (test: (value: unknown) => boolean): Reader =>
  v =>
    test(v) ? v : BAD;

const number = valid(isNumber);
const count = valid(v => isNumber(v) && v >= 0);
const integer = valid(v => isNumber(v) && v >= 0 && Number.isInteger(v));
const bool = valid(v => typeof v === 'boolean');
const oneOf = (...values: string[]): Reader =>
  valid(v => typeof v === 'string' && values.includes(v));

/** A string; longer than MAX_STRING, cut there. */
const text: Reader = (v, at, problems) => {
  if (typeof v !== 'string') {
    return BAD;
  }
  if (v.length <= MAX_STRING) {
    return v;
  }
  problems.push(`${at}: text cut to ${MAX_STRING} characters`);
  return v.slice(0, MAX_STRING);
};

/** null stays null; a bad value becomes null ("not measured"). */
const nullable =
  (read: Reader): Reader =>
  (v, at, problems) => {
    if (v === null) {
      return null;
    }
    const kept = read(v, at, problems);
    if (kept === BAD) {
      problems.push(`${at}: unreadable, taken as not measured`);
      return null;
    }
    return kept;
  };

/** For fields added after v1 first shipped: absent is fine, a bad value is left out. */
const optional =
  (read: Reader): Reader =>
  (v, at, problems) => {
    if (v === undefined) {
      return undefined;
    }
    const kept = read(v, at, problems);
    if (kept === BAD) {
      problems.push(`${at}: unreadable, left out`);
      return undefined;
    }
    return kept;
  };

/** A missing or bad value becomes `fallback`. */
const orElse =
  (read: Reader, fallback: unknown): Reader =>
  (v, at, problems) => {
    const kept = read(v, at, problems);
    if (kept === BAD) {
      problems.push(`${at}: missing or unreadable, taken as ${JSON.stringify(fallback)}`);
      return fallback;
    }
    return kept;
  };

/** A list of independent items: the first `max` are read, those that do not read are left out. */
const listOf =
  (read: Reader, max: number): Reader =>
  (v, at, problems) => {
    if (!Array.isArray(v)) {
      return BAD;
    }
    if (v.length > max) {
      problems.push(`${at}: ${v.length - max} items past the first ${max} left out`);
    }
    const kept: unknown[] = [];
    let bad = 0;
    v.slice(0, max).forEach((item, index) => {
      const one = read(item, `${at}[${index}]`, problems);
      if (one === BAD) {
        bad++;
      } else {
        kept.push(one);
      }
    });
    if (bad) {
      problems.push(`${at}: ${bad} unreadable items left out`);
    }
    return kept;
  };

/** A list that means nothing in part (a shape): every item must read, at most `max`. */
const wholeListOf =
  (read: Reader, max: number): Reader =>
  (v, at, problems) => {
    if (!Array.isArray(v) || v.length > max) {
      return BAD;
    }
    const kept = v.map((item, index) => read(item, `${at}[${index}]`, problems));
    return kept.includes(BAD) ? BAD : kept;
  };

/** An object of known fields (others are kept as they come: fields may be added to v1). */
const shaped =
  (shape: Shape): Reader =>
  (v, at, problems) => {
    if (!isDict(v)) {
      return BAD;
    }
    const kept: Record<string, unknown> = { ...v };
    for (const [field, read] of Object.entries(shape)) {
      const value = read(v[field], `${at}.${field}`, problems);
      if (value === BAD) {
        problems.push(`${at}.${field}: missing or unreadable`);
        return BAD;
      }
      if (value === undefined) {
        delete kept[field];
      } else {
        kept[field] = value;
      }
    }
    return kept;
  };

/** {"key": value, …}: at most `max` entries, those that do not read left out. */
const dictOf =
  (read: Reader, max: number): Reader =>
  (v, at, problems) => {
    if (!isDict(v)) {
      return BAD;
    }
    const entries = Object.entries(v);
    if (entries.length > max) {
      problems.push(`${at}: ${entries.length - max} entries past the first ${max} left out`);
    }
    const kept: Record<string, unknown> = {};
    let bad = 0;
    for (const [key, value] of entries.slice(0, max)) {
      const one = key.length <= MAX_STRING ? read(value, `${at}.${key}`, problems) : BAD;
      if (one === BAD) {
        bad++;
      } else {
        kept[key] = one;
      }
    }
    if (bad) {
      problems.push(`${at}: ${bad} unreadable entries left out`);
    }
    return kept;
  };

const notes = orElse(listOf(text, MAX_NOTES), []);

const gpuReading = shaped({
  index: integer,
  uuid: nullable(text),
  name: orElse(text, ''),
  used: nullable(count),
  total: nullable(count),
  process_used: nullable(count),
  torch_allocated: nullable(count),
  torch_reserved: nullable(count),
  source: orElse(text, '')
});

/** The newest figures of a cluster the kernel drives, in a sample (newer shims). */
const clusterFigures = shaped({
  engine: text,
  memory: nullable(count),
  limit: nullable(count),
  workers: nullable(integer)
});

const workerEvent = shaped({
  worker: text,
  reason: orElse(text, ''),
  t: nullable(number),
  rss: nullable(count),
  limit: nullable(count),
  task: nullable(text),
  idle: optional(bool),
  node: optional(nullable(text)),
  node_used: optional(nullable(count)),
  node_total: optional(nullable(count)),
  node_threshold: optional(nullable(count))
});

/** A cluster's memory over one cell (docs/protocol.md, CellRecord `cluster`). */
const clusterRecord = shaped({
  engine: text,
  scheduler: nullable(text),
  workers: nullable(integer),
  before: nullable(count),
  after: nullable(count),
  peak: nullable(count),
  limit: nullable(count),
  per_worker: orElse(dictOf(count, MAX_WORKERS), {}),
  restarted: orElse(listOf(workerEvent, MAX_WORKER_EVENTS), []),
  lost: orElse(listOf(workerEvent, MAX_WORKER_EVENTS), []),
  notes
});

const runningCell: Shape = {
  execution_count: nullable(integer),
  cell_id: nullable(text),
  start: count
};

const cellRecord = shaped({
  ...runningCell,
  duration: count,
  ram_before: nullable(count),
  ram_after: nullable(count),
  ram_peak: nullable(count),
  ram_delta: nullable(number),
  ram_peak_delta: nullable(number),
  peak_method: orElse(text, 'sampled'),
  container_peak: nullable(count),
  gpu: orElse(
    listOf(
      shaped({
        index: integer,
        before: nullable(count),
        after: nullable(count),
        peak: nullable(count)
      }),
      MAX_GPUS
    ),
    []
  ),
  status: oneOf('ok', 'error', 'blocked', 'interrupted'),
  stopped_by: optional(nullable(text)),
  findings: orElse(listOf(valid(isDict), MAX_FINDINGS), []),
  notes,
  // A bad cluster costs the cluster's figures only, never the cell's record.
  cluster: optional(clusterRecord)
});


const finding = shaped({
  kind: orElse(text, ''),
  line: integer,
  bytes: optional(nullable(count)),
  peak_bytes: count,
  device: text,
  risky: bool,
  message: text,
  suggestion: orElse(text, ''),
  exact: optional(bool)
});

/** {"cpu": bytes, "cuda:0": bytes or null, …} */
const freeByDevice = dictOf(nullable(count), MAX_DEVICES);

const variableInfo = shaped({
  name: text,
  type: orElse(text, ''),
  bytes: nullable(count),
  device: nullable(text),
  shape: nullable(wholeListOf(integer, MAX_DIMS)),
  dtype: nullable(text),
  shared_with: orElse(listOf(text, MAX_SHARED), []),
  truncated: orElse(bool, true),
  grad_bytes: optional(nullable(count)),
  notes: optional(notes)
});

/** A `sample` message's fields; also each sample of a `spool` answer. */
const sampleShape: Shape = {
  t: count,
  rss: nullable(count),
  children_rss: nullable(count),
  limit: nullable(count),
  limit_source: orElse(text, 'unknown'),
  used: nullable(count),
  free: nullable(count),
  host_total: nullable(count),
  host_available: nullable(count),
  notes,
  gpus: optional(nullable(listOf(gpuReading, MAX_GPUS))),
  running_cell: optional(nullable(shaped(runningCell))),
  oom_kills: optional(nullable(integer)),
  cluster: optional(clusterFigures)
};

/**
 * Each kernel → front end message's fields (extra fields are kept: the protocol may add
 * fields without a version bump). Bare readers are what a message cannot do without.
 */
const MESSAGE_SHAPES: Record<KernelMessage['type'], Shape> = {
  hello: {
    shim_version: orElse(text, 'unknown'),
    pid: integer,
    interval: valid(v => isNumber(v) && v > 0),
    python: orElse(text, ''),
    peak_method: orElse(text, 'sampled'),
    oom_kills: optional(nullable(integer)),
    oom_kills_file: optional(nullable(text)),
    oom_group: optional(nullable(bool)),
    oom_group_file: optional(nullable(text)),
    cgroup_peak: optional(nullable(count)),
    cgroup_peak_file: optional(nullable(text))
  },
  sample: sampleShape,
  spool: {
    pid: integer,
    since: nullable(count),
    samples: orElse(listOf(shaped(sampleShape), MAX_SPOOL_SAMPLES), []),
    cells: orElse(listOf(cellRecord, MAX_SPOOL_CELLS), []),
    truncated: orElse(bool, true),
    note: nullable(text)
  },
  error: { message: text },
  cell_start: runningCell,
  cell: { record: cellRecord },
  variables: {
    variables: orElse(listOf(variableInfo, MAX_VARIABLES), []),
    truncated: orElse(bool, true),
    took: orElse(count, 0)
  },
  sizes: {
    execution_count: nullable(integer),
    sizes: orElse(dictOf(nullable(count), MAX_SIZES), {}),
    truncated: orElse(bool, true)
  },
  warning: {
    findings: orElse(listOf(finding, MAX_FINDINGS), []),
    execution_count: nullable(integer),
    cell_id: nullable(text),
    mode: oneOf('warn', 'block'),
    free: nullable(freeByDevice),
    limit: nullable(count),
    setting: optional(oneOf('auto', 'warn', 'block')),
    single_call: optional(bool),
    page_cache: optional(nullable(count))
  },
  prediction: {
    id: integer,
    cell_id: nullable(text),
    findings: orElse(listOf(finding, MAX_FINDINGS), []),
    free: orElse(freeByDevice, {}),
    limit: nullable(count),
    took: orElse(count, 0),
    note: optional(nullable(text))
  },
  hints: {
    hints: orElse(
      listOf(
        shaped({
          kind: orElse(text, ''),
          name: orElse(text, ''),
          message: text,
          suggestion: orElse(text, ''),
          bytes: optional(nullable(count))
        }),
        MAX_HINTS
      ),
      []
    )
  }
};

/**
 * Read a message received from the kernel, field by field: what is valid is kept,
 * what is not is left out, cut or taken as "not measured", and said in `problems`.
 * Refused only when it is not a message of this protocol, or lacks what it cannot do
 * without (its time, pid, id… see MESSAGE_SHAPES).
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
  const problems: string[] = [];
  const message = shaped(MESSAGE_SHAPES[type as KernelMessage['type']])(data, type, problems);
  if (message === BAD) {
    // The deepest field it could not do without says why.
    const why = problems.find(problem => problem.endsWith(': missing or unreadable'));
    return { ok: false, reason: why ?? `${type}: unreadable` };
  }
  return { ok: true, message: message as KernelMessage, problems };
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
