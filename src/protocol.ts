/**
 * The oomguard comm protocol, front-end side (docs/protocol.md).
 *
 * The messages are defined once, in schema/protocol.json: their types here are
 * generated from it (scripts/embed-schemas.js), and everything that comes from the
 * kernel passes through `parseKernelMessage`, which reads it against that schema field
 * by field (src/schema/reader.ts): what is valid is kept, a bad field is left out, cut or
 * taken as not measured and said; a message is dropped, with a console warning, never
 * thrown, only when it lacks what it cannot do without.
 */
import { PROTOCOL_SCHEMA } from './schema/documents';
import type * as wire from './schema/protocolTypes';
import { BAD, SchemaReader } from './schema/reader';

export type {
  ICellMessage,
  ICellRecord,
  ICellStartMessage,
  IClusterCellRecord,
  IClusterFigures,
  IErrorMessage,
  IFinding,
  IGpuCellReading,
  IGpuReading,
  IHelloMessage,
  IHintsMessage,
  ILeakHint,
  IPredictionMessage,
  IRunningCell,
  ISample,
  ISizesMessage,
  ISpoolMessage,
  IVariableInfo,
  IVariablesMessage,
  IWarningMessage,
  IWorkerEvent,
  ClientMessage
} from './schema/protocolTypes';

const reader = new SchemaReader(PROTOCOL_SCHEMA);
const field = (definition: string, name: string) =>
  reader.definition(definition).properties[name];

/** The protocol version this extension speaks. */
export const PROTOCOL_VERSION: 1 = reader.definition('version').const;

/** The comm target the shim registers in the kernel. */
export const COMM_TARGET = 'oomguard';

/** What one `spool` answer may carry (the kernel thins its samples to fit). */
export const MAX_SPOOL_SAMPLES: number = field('spoolMessage', 'samples').maxItems;
/** Limits on what the front end sends for prediction (the kernel enforces the same). */
export const MAX_PREDICT_SOURCE: number = field('predictRequest', 'source').maxLength;
export const MAX_CELL_ID: number = field('predictRequest', 'cell_id').maxLength;

/** A reading; `from_spool` is set by the model (never the kernel) on back-filled ones. */
export interface ISampleMessage extends wire.ISampleMessage {
  from_spool?: boolean;
}

export type KernelMessage = Exclude<wire.KernelMessage, wire.ISampleMessage> | ISampleMessage;

/** Each kernel message type's definition in the schema. */
const MESSAGE_DEFINITIONS = new Map<string, string>(
  (reader.definition('kernelMessage').oneOf as { $ref: string }[]).map(({ $ref }) => {
    const name = $ref.split('/').pop() as string;
    return [reader.definition(name).properties.type.const, name];
  })
);

/**
 * What became of a message: kept (with what was left out or cut, for a console
 * warning), or refused, with the reason.
 */
export type ParseResult =
  | { ok: true; message: KernelMessage; problems: string[] }
  | { ok: false; reason: string; versionMismatch?: number };

function isDict(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Read a message received from the kernel, field by field against schema/protocol.json:
 * what is valid is kept, what is not is left out, cut or taken as "not measured", and
 * said in `problems`. Refused only when it is not a message of this protocol, or lacks
 * what it cannot do without (a required field with no repair in the schema: its time,
 * pid, id...).
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
  const definition = typeof type === 'string' ? MESSAGE_DEFINITIONS.get(type) : undefined;
  if (definition === undefined) {
    return { ok: false, reason: `unknown message type ${JSON.stringify(type)}` };
  }
  const problems: string[] = [];
  const message = reader.read(reader.definition(definition), data, type as string, problems);
  if (message === BAD) {
    // The deepest field it could not do without says why.
    const why = problems.find(problem => problem.endsWith(': missing or unreadable'));
    return { ok: false, reason: why ?? `${type}: unreadable` };
  }
  return { ok: true, message: message as KernelMessage, problems };
}

/** The guard's mode that decided a warning: older shims send only what happened (`mode`). */
export function warningSetting(
  warning: wire.IWarningMessage
): NonNullable<wire.IWarningMessage['setting']> {
  return warning.setting ?? warning.mode;
}

/** A front end -> kernel message's body: any client message without its version. */
type ClientBody = wire.ClientMessage extends infer M
  ? M extends { v: number }
    ? Omit<M, 'v'>
    : never
  : never;

/** Build a front end -> kernel message. */
export function clientMessage(body: ClientBody): wire.ClientMessage {
  return { v: PROTOCOL_VERSION, ...body } as wire.ClientMessage;
}

/**
 * A `predict` request, or null where it must not be sent: what the schema's reader
 * would refuse or have to repair (a source over MAX_PREDICT_SOURCE characters, a cell
 * id over MAX_CELL_ID, an id that is not a non-negative safe integer).
 */
export function predictMessage(
  id: number,
  source: string,
  cellId: string | null
): wire.ClientMessage | null {
  const message = clientMessage({ type: 'predict', id, source, cell_id: cellId });
  const problems: string[] = [];
  const read = reader.read(reader.definition('predictRequest'), message, 'predict', problems);
  return read === BAD || problems.length ? null : message;
}
