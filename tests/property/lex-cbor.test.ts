// decodeLex (one pass, DAG-CBOR bytes to lex-JSON) against the two-pass path it replaced (decode to values, then
// convert): the same lex-JSON for any data-model value, and both reject the same malformed inputs.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encode as cborgEncode } from 'cborg';
import { CID } from 'multiformats/cid';
import { encodeCbor } from '../../functions/atproto/cbor.ts';
import { decodeCborFast } from '../../functions/atproto/fast-cbor.ts';
import { cborToLex, lexToCbor } from '../../functions/atproto/lex-json.ts';
import { decodeLex, LexCborError, MAX_NESTING } from '../../functions/atproto/lex-cbor.ts';

const twoPass = (bytes: Uint8Array) => cborToLex(decodeCborFast(bytes));
const outcome = (f: () => unknown) => {
  try {
    return { ok: f() };
  } catch (err) {
    return { threw: String(err) };
  }
};
const carriesFloat64 = (bytes: Uint8Array) => bytes.includes(0xfb);
/** A map with one entry `key` whose value is the raw CBOR item `value`: any item, well formed or not. */
const oneEntryMap = (key: string, value: Uint8Array) => Uint8Array.from([0xa1, ...encodeCbor(key), ...value]);
const float64 = (n: number) => {
  const bytes = new Uint8Array(9);
  bytes[0] = 0xfb;
  new DataView(bytes.buffer).setFloat64(1, n);
  return bytes;
};

const cid = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((digest) => CID.parse(CID.createV1(0x71, { code: 0x12, size: 32, digest, bytes: Uint8Array.from([0x12, 0x20, ...digest]) } as never).toString()));
const leaf = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.maxSafeInteger(),
  fc.boolean(),
  fc.constant(null),
  fc.uint8Array({ maxLength: 40 }),
  cid,
);
const value = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, fc.array(tie('node'), { maxLength: 5 }), fc.dictionary(fc.string({ maxLength: 12 }), tie('node'), { maxKeys: 5 })),
})).node;

describe('decodeLex', () => {
  it('gives what decode-then-convert gives, for any data-model value', () => {
    fc.assert(
      fc.property(value, (v) => {
        const bytes = encodeCbor(v);
        expect(decodeLex(bytes)).toEqual(twoPass(bytes));
      }),
      { numRuns: 500 },
    );
  });

  it('keeps a key named __proto__ as a key, in both conversions (fast-check found the two-pass oracle dropping it)', () => {
    const value = JSON.parse('{"__proto__": {"$bytes": "AQI"}, "a": 1}') as Record<string, unknown>;
    const decoded = cborToLex(decodeCborFast(encodeCbor(lexToCbor(value as never))));
    expect(Object.getOwnPropertyNames(decoded).sort()).toEqual(['__proto__', 'a']);
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(decodeLex(encodeCbor(lexToCbor(value as never)))).toEqual(decoded);
  });

  it('accepts and rejects what the two-pass path does, for any corruption of a valid record', () => {
    fc.assert(
      fc.property(value, fc.nat(), fc.integer({ min: 0, max: 255 }), (v, at, byte) => {
        const bytes = encodeCbor({ $type: 'app.bsky.feed.post', v });
        const corrupt = bytes.slice();
        corrupt[at % corrupt.length] = byte;
        const ours = outcome(() => decodeLex(corrupt));
        const theirs = outcome(() => twoPass(corrupt));
        // The one thing decodeLex refuses that the two-pass path cannot see: a float whose value is an integer.
        if ('threw' in ours && 'ok' in theirs && carriesFloat64(corrupt)) return;
        expect('threw' in ours).toBe('threw' in theirs);
        if ('ok' in ours && 'ok' in theirs) expect(ours.ok).toEqual(theirs.ok);
      }),
      { numRuns: 2000 },
    );
  });

  it('rejects, with a reason, what the data model does not allow', () => {
    const cases: [string, Uint8Array, RegExp][] = [
      ['a float', cborgEncode({ x: 1.5 }, { float64: true }), /float/],
      ['a tag other than 42', Uint8Array.from([0xc1, 0x01]), /tag/],
      ['an indefinite-length array', Uint8Array.from([0x9f, 0x01, 0xff]), /indefinite/],
      ['an integer map key', Uint8Array.from([0xa1, 0x01, 0x01]), /not a string/],
      ['trailing bytes', Uint8Array.from([0x01, 0x02]), /after the value/],
      ['a truncated string', Uint8Array.from([0x65, 0x61]), /truncated/],
      ['invalid UTF-8', Uint8Array.from([0x62, 0xc3, 0x28]), /utf-8/],
      ['undefined', Uint8Array.from([0xf7]), /simple value/],
      ['a CIDv0 link', Uint8Array.from([0xd8, 0x2a, 0x58, 0x23, 0x00, 0x12, 0x20, ...new Uint8Array(32)]), /CIDv1/],
      ['nesting past the bound', Uint8Array.from([...new Array(MAX_NESTING + 1).fill(0x81), 0x01]), /nested deeper/],
      ['a length not in its shortest form', Uint8Array.from([0x78, 0x01, 0x61]), /shortest/],
      ['map keys out of order', Uint8Array.from([0xa2, 0x61, 0x62, 0x01, 0x61, 0x61, 0x02]), /canonical order/],
      ['a repeated map key', Uint8Array.from([0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02]), /repeated/],
      ['a huge array count', Uint8Array.from([0x9b, 0, 0, 0, 1, 0, 0, 0, 0]), /truncated/],
    ];
    for (const [name, bytes, reason] of cases) {
      expect(() => decodeLex(bytes), name).toThrow(LexCborError);
      expect(() => decodeLex(bytes), name).toThrow(reason);
    }
  });

  // The data model has no floats. The two-pass path refused a float only when its value was not an integer: decoded,
  // 1.0 is the number 1, and that lex-JSON encodes to other bytes than the record's CID names.
  it('refuses a record with a float of any width and value, as the two-pass path does where it can tell', () => {
    // [what, the float, whether the two-pass path refuses it too]
    const floats: [string, Uint8Array, boolean][] = [
      ['float64 1.5', float64(1.5), true],
      ['float64 2^53', float64(2 ** 53), true],
      ['float64 NaN', float64(NaN), true],
      ['float64 Infinity', float64(Infinity), true],
      ['float32 1.0', Uint8Array.from([0xfa, 0x3f, 0x80, 0x00, 0x00]), true],
      ['float16 1.0', Uint8Array.from([0xf9, 0x3c, 0x00]), true],
      ['float64 1.0', float64(1), false],
      ['float64 0.0', float64(0), false],
      ['float64 -0.0', float64(-0), false],
    ];
    for (const [name, item, twoPassRefuses] of floats) {
      const record = oneEntryMap('n', item);
      expect(() => decodeLex(record), name).toThrow(/a float/);
      expect('threw' in outcome(() => twoPass(record)), name).toBe(twoPassRefuses);
    }
  });

  // lex-JSON writes a link {"$link": cid} and bytes {"$bytes": base64}: a CBOR map of that shape would come out the
  // same, and the lexicon check (which sees only lex-JSON) would take it for a link or bytes.
  it('refuses a map in the lex-JSON form of a link or bytes, as the two-pass path does', () => {
    const cid = 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm';
    for (const [name, map] of [
      ['{"$link": cid}', { $link: cid }],
      ['{"$link": text}', { $link: 'hello' }],
      ['{"$bytes": base64}', { $bytes: 'AQI' }],
    ] as const) {
      for (const record of [encodeCbor(map), encodeCbor({ $type: 'app.bsky.feed.post', x: [map] })]) {
        expect(() => decodeLex(record), name).toThrow(/JSON form/);
        expect(outcome(() => twoPass(record)), name).toHaveProperty('threw');
      }
    }
    // Not the JSON form of either: another key beside it, or a value that is not text.
    for (const map of [{ $link: cid, a: 1 }, { $link: 1 }, { $bytes: null }, { $linkx: cid }]) {
      expect(decodeLex(encodeCbor(map))).toEqual(map);
      expect(twoPass(encodeCbor(map))).toEqual(map);
    }
  });

  it('keeps a key named __proto__ as data', () => {
    const out = decodeLex(cborgEncode({ ['__proto__']: { polluted: true }, a: 1 } as never)) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out).sort()).toEqual(['__proto__', 'a']);
  });
});
