// The parsers' own errors carry the reason they are counted under (functions/reasons.ts), so a caller reads
// err.reason instead of telling error classes apart.
import { describe, expect, it } from 'vitest';
import { SkytideError } from '../../../functions/errors.ts';
import { decodeLex, LexCborError } from '../../../functions/atproto/lex-cbor.ts';
import { CarError, parseCarHeader, readCarBlocks } from '../../../functions/atproto/car.ts';
import { KeyFormatError, parseMultikey } from '../../../functions/atproto/crypto/keys.ts';

const thrown = (fn: () => unknown): unknown => {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
};

describe('parser errors are SkytideErrors with their reason', () => {
  it('a record that is not DAG-CBOR: invalid_record; one nested too deep: too_deep', () => {
    // A CBOR float (0xf9: half precision) is outside the atproto data model.
    const float = thrown(() => decodeLex(Uint8Array.from([0xf9, 0x3c, 0x00])));
    expect(float).toBeInstanceOf(LexCborError);
    expect(float).toBeInstanceOf(SkytideError);
    expect((float as SkytideError).reason).toBe('invalid_record');
    const deep = new Uint8Array(200).fill(0x81);
    const tooDeep = thrown(() => decodeLex(deep));
    expect(tooDeep).toBeInstanceOf(LexCborError);
    expect((tooDeep as SkytideError).reason).toBe('too_deep');
  });

  it('a CAR header that is not CARv1 ({ x: 1 }): invalid_car', () => {
    const err = thrown(() => parseCarHeader(Uint8Array.from([0xa1, 0x61, 0x78, 0x01])));
    expect(err).toBeInstanceOf(CarError);
    expect((err as SkytideError).reason).toBe('invalid_car');
  });

  it('a CAR header that is CBOR null, or not a map: invalid_car, never a TypeError (found by the long fuzz)', () => {
    for (const header of [[0xf6], [0xf7], [0x80], [0x01]]) {
      const err = thrown(() => parseCarHeader(Uint8Array.from(header)));
      expect(err, Buffer.from(header).toString('hex')).toBeInstanceOf(CarError);
      // The firehose splitter reads the same header: a length varint, then the header's bytes.
      const car = thrown(() => readCarBlocks(Uint8Array.from([header.length, ...header])));
      expect((car as SkytideError).reason, Buffer.from(header).toString('hex')).toBe('invalid_car');
    }
  });

  it('a key that is not a usable multikey: identity_failed', () => {
    const err = thrown(() => parseMultikey('zQ3shnotakey'));
    expect(err).toBeInstanceOf(KeyFormatError);
    expect((err as SkytideError).reason).toBe('identity_failed');
  });
});
