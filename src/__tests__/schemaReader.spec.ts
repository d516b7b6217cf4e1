/**
 * The front end's schema reader against the cases the kernel's reader is tested on too
 * (schema/vectors/reader.json; python_shim/tests/test_schemas.py): both read the
 * protocol's subset of JSON Schema, and its repair keywords, the same way.
 */
import protocolSchema from '../../schema/protocol.json';
import vectors from '../../schema/vectors/reader.json';
import { BAD, SchemaReader } from '../schema/reader';

const reader = new SchemaReader(protocolSchema);

interface IVector {
  case: string;
  definition: string;
  at: string;
  value: unknown;
  kept: unknown;
  refused: boolean;
  problems: string[];
}

describe('SchemaReader', () => {
  it.each((vectors.cases as IVector[]).map(one => [one.case, one]))(
    '%s',
    (_, vector) => {
      const { definition, at, value, kept, refused, problems } = vector as IVector;
      const said: string[] = [];
      const before = JSON.stringify(value);
      const read = reader.read(reader.definition(definition), value, at, said);
      expect(read === BAD).toBe(refused);
      if (!refused) {
        expect(read).toEqual(kept);
      }
      expect(said).toEqual(problems);
      expect(JSON.stringify(value)).toBe(before); // what it read is left as it came
    }
  );

  it('refuses references outside the document', () => {
    const outside = new SchemaReader({ $defs: { a: { $ref: 'other.json#/x' } } });
    expect(() => outside.definition('a')).toThrow(/only local references/);
  });
});
