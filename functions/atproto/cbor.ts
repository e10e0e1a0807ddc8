// DAG-CBOR (DRISL) with cborg: CIDs are tag 42 over a 0x00-prefixed CID (decoded as CidLink), map keys are strings in canonical
// (length-first) order, and nothing outside the data model decodes (undefined, NaN, Infinity, indefinite lengths,
// duplicate keys).
import { decode, decodeFirst, encode, Token, Type, type TagDecoder, type DecodeOptions, type EncodeOptions } from 'cborg';
import { CID } from 'multiformats/cid';
import { CidLink } from './cid-link.ts';
import { scanCborItem, scanCborWhole } from './cbor-scan.ts';

const CID_TAG = 42;

const tags: TagDecoder[] = [];
// cborg 6 hands a tag decoder a control function; calling it decodes the tagged item.
tags[CID_TAG] = (decodeInner) => {
  const bytes = decodeInner();
  if (!(bytes instanceof Uint8Array) || bytes[0] !== 0 || bytes.length < 3) throw new Error('invalid CID link: expected a 0x00-prefixed byte string');
  return new CidLink(bytes.subarray(1));
};

export const DECODE_OPTIONS: DecodeOptions = {
  tags,
  allowUndefined: false,
  allowIndefinite: false,
  allowNaN: false,
  allowInfinity: false,
  rejectDuplicateMapKeys: true,
  useMaps: false,
};

function cidEncoder(value: unknown): Token[] | null {
  const cid = CidLink.from(value);
  if (cid === undefined) return null;
  const bytes = new Uint8Array(cid.bytes.byteLength + 1);
  bytes.set(cid.bytes, 1);
  return [new Token(Type.tag, CID_TAG), new Token(Type.bytes, bytes)];
}

const ENCODE_OPTIONS: EncodeOptions = {
  float64: true,
  typeEncoders: {
    Object: cidEncoder,
    undefined: () => {
      throw new Error('undefined is not in the atproto data model');
    },
  },
};

// Scanned first (cbor-scan.ts): cborg decodes nesting level by level with no depth limit.
export function decodeCbor(bytes: Uint8Array): unknown {
  scanCborWhole(bytes);
  return decode(bytes, DECODE_OPTIONS);
}

/** Decodes one item and returns the bytes after it (a frame is two items back to back). */
export function decodeCborFirst(bytes: Uint8Array): [unknown, Uint8Array] {
  scanCborItem(bytes, 0);
  return decodeFirst(bytes, DECODE_OPTIONS);
}

export function encodeCbor(value: unknown): Uint8Array {
  return encode(value, ENCODE_OPTIONS);
}

export { CID, CidLink };
