// The interop data-model vectors: atproto JSON <-> DAG-CBOR bytes <-> CID, exactly.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { encodeCbor } from '../../functions/atproto/cbor.ts';
import { decodeCbor } from '../helpers/strict-cbor.ts';
import { cidForCbor } from '../../functions/atproto/cid.ts';
import { cborToLex, lexToCbor } from '../../functions/atproto/lex-json.ts';
import { decodeLex } from '../../functions/atproto/lex-cbor.ts';
import type { JsonValue } from '../../functions/events.ts';

const fixtures = JSON.parse(
  readFileSync(new URL('../fixtures/interop/data-model/data-model-fixtures.json', import.meta.url), 'utf8'),
) as { json: JsonValue; cbor_base64: string; cid: string }[];

const fromB64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));

describe('data model: lex-JSON <-> DAG-CBOR <-> CID (interop vectors)', () => {
  it.each(fixtures.map((f, i) => [i, f] as const))('case %i encodes to the exact bytes and CID', async (_i, f) => {
    const bytes = encodeCbor(lexToCbor(f.json));
    expect(Buffer.from(bytes).toString('base64').replace(/=+$/, '')).toBe(f.cbor_base64.replace(/=+$/, ''));
    expect((await cidForCbor(bytes)).toString()).toBe(f.cid);
  });

  it.each(fixtures.map((f, i) => [i, f] as const))('case %i decodes back to the same lex-JSON', (_i, f) => {
    expect(cborToLex(decodeCbor(fromB64(f.cbor_base64)))).toEqual(f.json);
  });

  it.each(fixtures.map((f, i) => [i, f] as const))('case %i decodes in one pass (decodeLex) to the same lex-JSON', (_i, f) => {
    expect(decodeLex(fromB64(f.cbor_base64))).toEqual(f.json);
  });

  it('never turns bytes into a JSON array of numbers', () => {
    expect(cborToLex({ b: new Uint8Array([1, 2, 3]) })).toEqual({ b: { $bytes: 'AQID' } });
  });

  it('rejects floats, which the data model does not allow', () => {
    expect(() => cborToLex({ x: 1.5 })).toThrow(/floats are not in the atproto data model/);
  });
});
