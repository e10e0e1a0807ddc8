// Records from DAG-CBOR bytes straight to lex-JSON, in one pass: a link becomes {"$link": "<base32 CID>"} and bytes
// become {"$bytes": "<base64>"} as they are read. NOTE: decoding to wrapper objects and converting them afterwards
// (fast-cbor.ts, then lex-json.ts) built three objects per link and walked every value twice; on a 100,000-record
// repo that garbage was the largest cost left (npm run bench, verify). Accepts the atproto data model in canonical
// DAG-CBOR: integers only (never a float, 1.0 included, which that path could not tell from 1 once decoded), no tag
// but 42, no map in the lex-JSON form of a link or bytes, string map keys in canonical order without duplicates,
// minimal-length arguments, valid UTF-8.
import { decodeUtf8From } from '@atcute/uint8array';
import type { JsonValue } from '../events.ts';
import { base32Multibase } from './base32.ts';
import { toBase64 } from './lex-json.ts';
import { MAX_CBOR_DEPTH } from './limits.ts';
import { SkytideError } from '../errors.ts';

/** A record that is not atproto DAG-CBOR: `invalid_record`, or `too_deep` for nesting past MAX_NESTING. */
export class LexCborError extends SkytideError {
  /** `tooDeep`: refused for nesting past MAX_NESTING, not for its form. */
  constructor(message: string, tooDeep = false) {
    super(tooDeep ? 'too_deep' : 'invalid_record', `not an atproto DAG-CBOR value: ${message}`);
    this.name = 'LexCborError';
  }
}

/** Deeper than any record a lexicon allows; bounds the recursion on hostile input. */
export const MAX_NESTING = MAX_CBOR_DEPTH;

// The decoder's cursor. Module state, not an object per call: decoding is synchronous and never re-entered.
let buf: Uint8Array = new Uint8Array(0);
let pos = 0;
let end = 0;

/** One DAG-CBOR value, the whole of `bytes`, as lex-JSON. Throws LexCborError on anything outside the data model. */
export function decodeLex(bytes: Uint8Array): JsonValue {
  buf = bytes;
  pos = 0;
  end = bytes.length;
  try {
    const value = readValue(0);
    if (pos !== end) throw new LexCborError('bytes after the value');
    return value;
  } catch (err) {
    if (err instanceof LexCborError) throw err;
    throw new LexCborError(err instanceof Error ? err.message : String(err));
  } finally {
    buf = new Uint8Array(0); // drop the reference: the caller's buffer may be a whole repo
  }
}

function need(n: number): void {
  if (end - pos < n) throw new LexCborError('truncated');
}

/** An argument in its shortest encoding, as DAG-CBOR requires (so every value has exactly one encoding). */
function readArgument(info: number): number {
  if (info < 24) return info;
  let v: number;
  let min: number;
  switch (info) {
    case 24:
      need(1);
      v = buf[pos++]!;
      min = 24;
      break;
    case 25:
      need(2);
      v = (buf[pos]! << 8) | buf[pos + 1]!;
      pos += 2;
      min = 0x100;
      break;
    case 26:
      need(4);
      v = ((buf[pos]! << 24) | (buf[pos + 1]! << 16) | (buf[pos + 2]! << 8) | buf[pos + 3]!) >>> 0;
      pos += 4;
      min = 0x10000;
      break;
    case 27: {
      need(8);
      const hi = ((buf[pos]! << 24) | (buf[pos + 1]! << 16) | (buf[pos + 2]! << 8) | buf[pos + 3]!) >>> 0;
      const lo = ((buf[pos + 4]! << 24) | (buf[pos + 5]! << 16) | (buf[pos + 6]! << 8) | buf[pos + 7]!) >>> 0;
      pos += 8;
      if (hi > 0x1fffff) throw new LexCborError('integer beyond the safe range');
      v = hi * 2 ** 32 + lo;
      min = 2 ** 32;
      break;
    }
    default:
      throw new LexCborError('indefinite length or reserved argument');
  }
  if (v < min) throw new LexCborError('an argument not in its shortest encoding');
  return v;
}

/** Canonical order: shorter keys first, then bytewise; equal is a duplicate. Compared on the UTF-8 bytes. */
function keyAfter(prevStart: number, prevLength: number, start: number, length: number): boolean {
  if (length !== prevLength) return length > prevLength;
  for (let i = 0; i < length; i++) {
    const d = buf[start + i]! - buf[prevStart + i]!;
    if (d !== 0) return d > 0;
  }
  return false;
}

function readString(length: number): string {
  need(length);
  const start = pos;
  pos += length;
  return decodeUtf8From(buf, start, length);
}

function readValue(depth: number): JsonValue {
  need(1);
  const prelude = buf[pos++]!;
  const info = prelude & 0x1f;
  switch (prelude >> 5) {
    case 0:
      return readArgument(info);
    case 1: {
      const n = -1 - readArgument(info);
      if (n < Number.MIN_SAFE_INTEGER) throw new LexCborError('integer beyond the safe range');
      return n;
    }
    case 2: {
      const length = readArgument(info);
      need(length);
      return { $bytes: toBase64(buf.subarray(pos, (pos += length))) };
    }
    case 3:
      return readString(readArgument(info));
    case 4: {
      if (depth >= MAX_NESTING) throw new LexCborError(`nested deeper than ${MAX_NESTING}`, true);
      const length = readArgument(info);
      need(length); // every element takes a byte: a huge count cannot allocate before failing
      const out = new Array<JsonValue>(length);
      for (let i = 0; i < length; i++) out[i] = readValue(depth + 1);
      return out;
    }
    case 5: {
      if (depth >= MAX_NESTING) throw new LexCborError(`nested deeper than ${MAX_NESTING}`, true);
      const length = readArgument(info);
      need(length * 2);
      const out: { [key: string]: JsonValue } = {};
      let prevStart = 0;
      let prevLength = -1;
      for (let i = 0; i < length; i++) {
        need(1);
        const keyPrelude = buf[pos++]!;
        if (keyPrelude >> 5 !== 3) throw new LexCborError('a map key is not a string');
        const keyLength = readArgument(keyPrelude & 0x1f);
        const keyStart = pos;
        const key = readString(keyLength);
        if (prevLength >= 0 && !keyAfter(prevStart, prevLength, keyStart, keyLength)) throw new LexCborError('map keys out of canonical order, or repeated');
        prevStart = keyStart;
        prevLength = keyLength;
        const value = readValue(depth + 1);
        // A map {"$link": text} or {"$bytes": text} would come out as the lex-JSON of a link or of bytes, and no check
        // after this could tell it from one (a blob's `ref`, a cid-link field): it is no encoding of either in CBOR.
        if (length === 1 && typeof value === 'string' && (key === '$link' || key === '$bytes')) throw new LexCborError(`a map in the JSON form of a ${key === '$link' ? 'link' : 'byte string'} (CBOR writes those as tag 42 and major type 2)`);
        // A key named __proto__ is data, not the object's prototype.
        if (key === '__proto__') Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
        else out[key] = value;
      }
      return out;
    }
    case 6: {
      if (readArgument(info) !== 42) throw new LexCborError('a tag other than 42 (CID link)');
      need(1);
      const inner = buf[pos++]!;
      if (inner >> 5 !== 2) throw new LexCborError('a CID link that is not a byte string');
      const length = readArgument(inner & 0x1f);
      need(length);
      // The multibase identity prefix (0x00), then a CIDv1 of the blessed form: dag-cbor or raw, sha2-256.
      const codec = buf[pos + 2];
      if (length !== 37 || buf[pos] !== 0 || buf[pos + 1] !== 1 || (codec !== 0x71 && codec !== 0x55) || buf[pos + 3] !== 0x12 || buf[pos + 4] !== 0x20) {
        throw new LexCborError('a CID link that is not a CIDv1 (dag-cbor or raw, sha2-256)');
      }
      const link = base32Multibase(buf, pos + 1, pos + length);
      pos += length;
      return { $link: link };
    }
    default: {
      if (info === 20) return false;
      if (info === 21) return true;
      if (info === 22) return null;
      // Every float, 1.0 included: the data model has integers only, and reading 1.0 as 1 would give lex-JSON that
      // encodes to other bytes than the record's CID names.
      if (info >= 25 && info <= 27) throw new LexCborError(`a float (the data model has integers only)`);
      throw new LexCborError(`simple value ${info} (undefined, or not in the data model)`);
    }
  }
}
