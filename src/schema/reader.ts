/**
 * Reads a value field by field against a JSON Schema of the subset schema/protocol.json
 * uses, repairing what its own keywords say may be repaired (the schema's `$comment`
 * says how; python_shim/oomguard/schemas.py reads the same way, and
 * schema/vectors/reader.json holds the cases both readers are tested on).
 *
 * What is kept is valid field by field: a text cut to its `maxLength`, a list cut to its
 * `maxItems` and rid of items that do not read, a bad field taken as null, its `default`
 * or left out. Each repair is said in `problems`. Only a field without a repair, that the
 * object cannot do without, costs the object.
 */

/** A node of a JSON Schema (the subset: see schema/protocol.json's `$comment`). */
export type Schema = { readonly [keyword: string]: any };

/** What cannot be kept: the caller refuses the object (or leaves out the item). */
export const BAD: unique symbol = Symbol('bad');
/** A field to leave out (`onInvalid: "omit"`). */
const OMIT: unique symbol = Symbol('omit');

type Read = unknown | typeof BAD | typeof OMIT;

function isDict(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const fresh = (value: unknown): unknown =>
  value === undefined ? undefined : JSON.parse(JSON.stringify(value));

function types(schema: Schema): string[] | null {
  const type = schema.type;
  return type === undefined ? null : Array.isArray(type) ? type : [type];
}

export class SchemaReader {
  constructor(readonly root: Schema) {}

  /** The node at `#/$defs/<name>`, with its `$ref`s merged. */
  definition(name: string): Schema {
    const node = this.root.$defs?.[name];
    if (!node) {
      throw new Error(`no definition ${name} in the schema`);
    }
    return this.resolve(node);
  }

  /**
   * Read `value` against `schema`: the value to keep, or BAD. `at` names the value in
   * the problems (`sample.notes[3]`).
   */
  read(schema: Schema, value: unknown, at: string, problems: string[]): unknown {
    const kept = this.readValue(this.resolve(schema), value, at, problems);
    return kept === OMIT ? BAD : kept;
  }

  /**
   * A node with its `$ref` merged in: the referenced node's keywords, then the node's
   * own; `properties` merged and `required` joined (a mixin, as a cell record is a
   * running cell with more fields).
   */
  resolve(node: Schema): Schema {
    const known = this.resolved.get(node);
    if (known) {
      return known;
    }
    let merged: Schema = node;
    if (typeof node.$ref === 'string') {
      const target = this.resolve(this.pointer(node.$ref));
      const { $ref, ...own } = node;
      merged = { ...target, ...own };
      if (target.properties && own.properties) {
        merged = {
          ...merged,
          properties: { ...target.properties, ...own.properties },
          required: [...(target.required ?? []), ...(own.required ?? [])]
        };
      }
    }
    this.resolved.set(node, merged);
    return merged;
  }

  private pointer(ref: string): Schema {
    if (!ref.startsWith('#/')) {
      throw new Error(`only local references are read: ${ref}`);
    }
    let node: any = this.root;
    for (const part of ref.slice(2).split('/')) {
      node = node?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
    }
    if (!isDict(node)) {
      throw new Error(`unresolved reference ${ref}`);
    }
    return node;
  }

  /** The value, repaired as far as the node allows; on failure its `onInvalid`. */
  private readValue(schema: Schema, value: unknown, at: string, problems: string[]): Read {
    const kept = this.check(schema, value, at, problems);
    if (kept !== BAD) {
      return kept;
    }
    switch (schema.onInvalid) {
      case 'null':
        problems.push(`${at}: unreadable, taken as not measured`);
        return null;
      case 'default':
        problems.push(
          `${at}: missing or unreadable, taken as ${JSON.stringify(schema.default)}`
        );
        return fresh(schema.default);
      case 'omit':
        problems.push(`${at}: unreadable, left out`);
        return OMIT;
    }
    return BAD;
  }

  private check(schema: Schema, value: unknown, at: string, problems: string[]): Read {
    if (value === undefined) {
      return BAD;
    }
    if ('const' in schema) {
      return value === schema.const ? value : BAD;
    }
    if (Array.isArray(schema.anyOf)) {
      return this.valueOrNull(schema.anyOf, value, at, problems);
    }
    const allowed = types(schema);
    if (value === null) {
      return allowed?.includes('null') ? null : BAD;
    }
    if (Array.isArray(schema.enum) && !schema.enum.includes(value)) {
      return BAD;
    }
    const is = (type: string) => allowed === null || allowed.includes(type);
    if (typeof value === 'string') {
      return is('string') ? this.text(schema, value, at, problems) : BAD;
    }
    if (typeof value === 'number') {
      const integer = is('integer') && Number.isInteger(value);
      return Number.isFinite(value) && (is('number') || integer)
        ? this.number(schema, value, at, problems)
        : BAD;
    }
    if (typeof value === 'boolean') {
      return is('boolean') ? value : BAD;
    }
    if (Array.isArray(value)) {
      return is('array') ? this.list(schema, value, at, problems) : BAD;
    }
    if (isDict(value) && is('object')) {
      return schema.properties
        ? this.shaped(schema, value, at, problems)
        : this.dict(schema, value, at, problems);
    }
    return BAD;
  }

  /** `anyOf: [X, {"type": "null"}]`, the one use of anyOf in the subset. */
  private valueOrNull(branches: Schema[], value: unknown, at: string, problems: string[]): Read {
    const resolved = branches.map(branch => this.resolve(branch));
    const isNull = (branch: Schema) => branch.type === 'null';
    if (value === null) {
      return resolved.some(isNull) ? null : BAD;
    }
    const branch = resolved.find(one => !isNull(one));
    return branch ? this.readValue(branch, value, at, problems) : BAD;
  }

  private text(schema: Schema, value: string, at: string, problems: string[]): Read {
    const max = schema.maxLength;
    if (typeof max !== 'number' || value.length <= max) {
      return value;
    }
    if (schema.atomic) {
      return BAD;
    }
    problems.push(`${at}: text cut to ${max} characters`);
    return value.slice(0, max);
  }

  private number(schema: Schema, value: number, at: string, problems: string[]): Read {
    const { minimum, maximum, exclusiveMinimum } = schema;
    if (typeof exclusiveMinimum === 'number' && !(value > exclusiveMinimum)) {
      return BAD;
    }
    const low = typeof minimum === 'number' && value < minimum;
    const high = typeof maximum === 'number' && value > maximum;
    if (!low && !high) {
      return value;
    }
    if (!schema.clamp) {
      return BAD;
    }
    problems.push(`${at}: ${value} brought within ${minimum} to ${maximum}`);
    return low ? minimum : maximum;
  }

  /** A list of independent items: the first `maxItems`, those that read. */
  private list(schema: Schema, value: unknown[], at: string, problems: string[]): Read {
    const max = typeof schema.maxItems === 'number' ? schema.maxItems : Infinity;
    const items = schema.items ? this.resolve(schema.items) : null;
    if (schema.atomic) {
      if (value.length > max) {
        return BAD;
      }
      const kept = value.map((item, i) =>
        items ? this.readValue(items, item, `${at}[${i}]`, problems) : item
      );
      return kept.some(item => item === BAD || item === OMIT) ? BAD : kept;
    }
    if (value.length > max) {
      problems.push(`${at}: ${value.length - max} items past the first ${max} left out`);
    }
    const kept: unknown[] = [];
    let bad = 0;
    value.slice(0, max).forEach((item, i) => {
      const one = items ? this.readValue(items, item, `${at}[${i}]`, problems) : item;
      if (one === BAD || one === OMIT) {
        bad++;
      } else {
        kept.push(one);
      }
    });
    if (bad) {
      problems.push(`${at}: ${bad} unreadable items left out`);
    }
    return kept;
  }

  /** An object of named fields; fields not named are kept as they come. */
  private shaped(
    schema: Schema,
    value: Record<string, unknown>,
    at: string,
    problems: string[]
  ): Read {
    const required = new Set<string>(schema.required ?? []);
    const kept: Record<string, unknown> = { ...value };
    for (const [field, node] of Object.entries<Schema>(schema.properties)) {
      const fieldSchema = this.resolve(node);
      const where = `${at}.${field}`;
      if (value[field] === undefined && !required.has(field)) {
        if ('default' in fieldSchema) {
          kept[field] = fresh(fieldSchema.default);
        } else {
          delete kept[field];
        }
        continue;
      }
      const one = this.readValue(fieldSchema, value[field], where, problems);
      if (one === BAD) {
        problems.push(`${where}: missing or unreadable`);
        return BAD;
      }
      if (one === OMIT) {
        delete kept[field];
      } else {
        kept[field] = one;
      }
    }
    return kept;
  }

  /** {"key": value, ...}: the first `maxProperties` entries, those that read. */
  private dict(
    schema: Schema,
    value: Record<string, unknown>,
    at: string,
    problems: string[]
  ): Read {
    const values = schema.additionalProperties;
    if (!isDict(values)) {
      return { ...value };
    }
    const max = typeof schema.maxProperties === 'number' ? schema.maxProperties : Infinity;
    const longest = schema.propertyNames?.maxLength ?? Infinity;
    const entries = Object.entries(value);
    if (entries.length > max) {
      problems.push(`${at}: ${entries.length - max} entries past the first ${max} left out`);
    }
    const item = this.resolve(values);
    const kept: Record<string, unknown> = {};
    let bad = 0;
    for (const [key, one] of entries.slice(0, max)) {
      const read =
        key.length <= longest ? this.readValue(item, one, `${at}.${key}`, problems) : BAD;
      if (read === BAD || read === OMIT) {
        bad++;
      } else {
        kept[key] = read;
      }
    }
    if (bad) {
      problems.push(`${at}: ${bad} unreadable entries left out`);
    }
    return kept;
  }

  private resolved = new Map<Schema, Schema>();
}
