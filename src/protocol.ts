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

/** Limits on kernel-supplied strings, so a hostile payload cannot flood the DOM. */
const MAX_STRING = 1000;
const MAX_NOTES = 20;

export interface IHelloMessage {
  v: number;
  type: 'hello';
  shim_version: string;
  pid: number;
  interval: number;
  python: string;
  peak_method: string;
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
}

export interface IErrorMessage {
  v: number;
  type: 'error';
  message: string;
}

export type KernelMessage = IHelloMessage | ISampleMessage | IErrorMessage;

/** Front end → kernel. */
export type ClientMessage =
  | { v: number; type: 'open'; client: string }
  | { v: number; type: 'settings'; interval: number }
  | { v: number; type: 'refresh' };

/** Why a message was refused. */
export type ParseResult =
  | { ok: true; message: KernelMessage }
  | { ok: false; reason: string; versionMismatch?: number };

type Dict = Record<string, unknown>;

function isDict(value: unknown): value is Dict {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

function isOptionalCount(value: unknown): value is number | null {
  return value === null || isCount(value);
}

function isShortString(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_STRING;
}

/** Field checks per message type: the name of the first bad field, or null. */
const CHECKS: Record<string, Record<string, (value: unknown) => boolean>> = {
  hello: {
    shim_version: isShortString,
    pid: v => isCount(v) && Number.isInteger(v),
    interval: v => isCount(v) && (v as number) > 0,
    python: isShortString,
    peak_method: isShortString
  },
  sample: {
    t: isCount,
    rss: isOptionalCount,
    children_rss: isOptionalCount,
    limit: isOptionalCount,
    limit_source: isShortString,
    used: isOptionalCount,
    free: isOptionalCount,
    host_total: isOptionalCount,
    host_available: isOptionalCount,
    notes: v =>
      Array.isArray(v) && v.length <= MAX_NOTES && v.every(isShortString)
  },
  error: {
    message: isShortString
  }
};

/**
 * Validate a message received from the kernel.
 *
 * Extra fields are allowed (the protocol may add fields without a version bump);
 * missing or mistyped known fields are not.
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
  if (typeof type !== 'string' || !(type in CHECKS)) {
    return { ok: false, reason: `unknown message type ${JSON.stringify(type)}` };
  }
  for (const [field, check] of Object.entries(CHECKS[type])) {
    if (!check(data[field])) {
      return { ok: false, reason: `${type}: bad or missing field "${field}"` };
    }
  }
  return { ok: true, message: data as unknown as KernelMessage };
}

/** Build a front end → kernel message. */
export function clientMessage(
  body:
    | { type: 'open'; client: string }
    | { type: 'settings'; interval: number }
    | { type: 'refresh' }
): ClientMessage {
  return { v: PROTOCOL_VERSION, ...body } as ClientMessage;
}
