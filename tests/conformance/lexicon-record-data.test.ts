// The official interop vectors for record data (bluesky-social/atproto-interop-tests, lexicon/): every valid record
// passes its lexicon and every invalid one is refused, by the same compiler that checks the AppView's record types.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileLexicons } from '../../functions/atproto/lexicon/compile.ts';
import { fakeBlobCid } from '../helpers/events.ts';

const DIR = new URL('../fixtures/interop/lexicon/', import.meta.url);
const catalog = readdirSync(new URL('catalog/', DIR)).map((f) => JSON.parse(readFileSync(new URL(`catalog/${f}`, DIR), 'utf8')) as unknown);
const vectors = (file: string) => JSON.parse(readFileSync(new URL(file, DIR), 'utf8')) as { name: string; data: { $type: string } }[];

describe('record data (interop vectors)', () => {
  const validator = compileLexicons(catalog);
  const valid = vectors('record-data-valid.json');
  const invalid = vectors('record-data-invalid.json');

  // One deliberate difference: the AppView (strict @atproto/lex-schema) takes a blob only with a raw-codec CID, as
  // every PDS writes them; the "full" vector's blob links a dag-cbor CID, so the AppView would not index it.
  it(`accepts all ${valid.length} valid records but one, which the AppView refuses too`, () => {
    expect(valid.length).toBeGreaterThanOrEqual(3);
    expect(valid.map((v) => [v.name, validator.recordProblem(v.data.$type, v.data)])).toEqual(
      valid.map((v) => [v.name, v.name === 'full' ? '$.blob: a blob ref must be a raw CIDv1 link' : undefined]),
    );
    const rawLink = fakeBlobCid('blob');
    const withRawBlobs = JSON.parse(JSON.stringify(valid.find((v) => v.name === 'full')?.data), (_key, value: unknown) =>
      value !== null && typeof value === 'object' && (value as { $type?: unknown }).$type === 'blob' ? { ...value, ref: { $link: rawLink } } : value) as unknown;
    expect(validator.recordProblem('example.lexicon.record', withRawBlobs)).toBeUndefined();
  });

  it(`refuses all ${invalid.length} invalid records, saying why`, () => {
    expect(invalid.length).toBeGreaterThanOrEqual(50);
    const accepted = invalid.filter((v) => validator.recordProblem(v.data.$type, v.data) === undefined).map((v) => v.name);
    expect(accepted).toEqual([]);
    expect(validator.recordProblem('example.lexicon.record', invalid[0]?.data)).toBe('$: integer is required');
    const graphemes = invalid.find((v) => v.name === 'string too long (graphemes)');
    expect(validator.recordProblem('example.lexicon.record', graphemes?.data)).toBe('$.graphemeString: must be at most 20 graphemes');
  });

  it('knows the record types of the catalog, and nothing checks a collection it has no lexicon for', () => {
    expect([...validator.collections]).toContain('example.lexicon.record');
    expect(validator.recordProblem('com.example.unknown', { anything: 1 })).toBeUndefined();
  });
});

describe('lexicon documents it cannot check', () => {
  it('are refused when compiled, naming the definition', () => {
    expect(() => compileLexicons([{ lexicon: 1, id: 'com.example.a', defs: { main: { type: 'record', key: 'tid', record: { type: 'object', properties: { x: { type: 'float' } } } } } }]))
      .toThrow('com.example.a x: type "float" is not supported in records');
    expect(() => compileLexicons([{ lexicon: 1, id: 'com.example.b', defs: { main: { type: 'record', key: 'tid', record: { type: 'object', properties: { x: { type: 'ref', ref: '#nowhere' } } } } } }]))
      .toThrow('com.example.b#nowhere is not known');
  });
});
