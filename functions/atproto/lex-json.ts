// DAG-CBOR values <-> lex-JSON, the JSON form atproto uses: a CID link is {"$link": "<cid>"}, bytes are
// {"$bytes": "<base64, no padding>"}, and a blob keeps its object shape with `ref` as a link. Never byte arrays: that
// is how rsky corrupted 25M records.
import { CID } from 'multiformats/cid';
import { CidLink } from './cid-link.ts';
import type { JsonValue } from '../events.ts';

export function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary).replace(/=+$/, '');
}

export function fromBase64(text: string): Uint8Array {
  const padded = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  const binary = atob(padded);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/**
 * Decoded DAG-CBOR to lex-JSON. Throws on values outside the data model: floats that are not integers (one that is
 * cannot be told from an integer here), and maps that lex-JSON would read as a link or bytes.
 */
export function cborToLex(value: unknown): JsonValue {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new TypeError('floats are not in the atproto data model');
    return value;
  }
  if (value instanceof Uint8Array) return { $bytes: toBase64(value) };
  if (Array.isArray(value)) return value.map(cborToLex);
  if (typeof value === 'object') {
    if (value instanceof CidLink) return { $link: value.toString() };
    const cid = CID.asCID(value);
    if (cid !== null) return { $link: cid.toString() };
    const entries = Object.entries(value);
    // A plain map {"$link": text} or {"$bytes": text} would read as a link or bytes in lex-JSON (as in lex-cbor.ts).
    const [only] = entries;
    if (entries.length === 1 && (only![0] === '$link' || only![0] === '$bytes') && typeof only![1] === 'string') {
      throw new TypeError(`a map in the JSON form of ${only![0]} is not in the atproto data model`);
    }
    const out: { [key: string]: JsonValue } = {};
    for (const [k, v] of entries) setOwn(out, k, cborToLex(v));
    return out;
  }
  throw new TypeError(`${typeof value} is not in the atproto data model`);
}

/** lex-JSON to the values DAG-CBOR encodes: {"$link"} becomes a CID, {"$bytes"} a byte string. */
export function lexToCbor(value: JsonValue): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(lexToCbor);
  const keys = Object.keys(value);
  if (keys.length === 1 && typeof value['$link'] === 'string') return CID.parse(value['$link']);
  if (keys.length === 1 && typeof value['$bytes'] === 'string') return fromBase64(value['$bytes']);
  const out: Record<string, unknown> = {};
  for (const k of keys) setOwn(out, k, lexToCbor(value[k] as JsonValue));
  return out;
}

/** A record key named `__proto__` is data: plain assignment would set the object's prototype instead. */
function setOwn(out: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  else out[key] = value;
}

/**
 * Whether a lex-JSON value nests more containers than `max` (the record counts as one; a {"$link"} or {"$bytes"} map
 * is a leaf, as the CID or bytes it stands for are in DAG-CBOR), as lex-cbor.ts counts a record it decodes. A JSON
 * record that arrived already parsed (a stream entry, an HTTP batch) may nest far deeper than the call stack would let
 * a full recursive walk (or JSON.stringify) go; this walk recurses, but stops descending past `max`, so it never goes
 * deeper than `max + 1` calls. It allocates nothing: it runs on every record of the index path.
 */
export function nestsDeeperThan(value: JsonValue, max: number): boolean {
  return deeper(value, 1, max);
}

function deeper(value: JsonValue, depth: number, max: number): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) {
    if (depth > max) return true;
    for (let i = 0; i < value.length; i++) if (deeper(value[i] as JsonValue, depth + 1, max)) return true;
    return false;
  }
  if (isLinkOrBytes(value)) return false;
  if (depth > max) return true;
  for (const key in value) if (deeper(value[key] as JsonValue, depth + 1, max)) return true;
  return false;
}

/** A map whose one key is `$link` or `$bytes` holding text: lex-JSON's form of a CID or bytes, a leaf. */
function isLinkOrBytes(map: { [key: string]: JsonValue }): boolean {
  if (typeof map['$link'] !== 'string' && typeof map['$bytes'] !== 'string') return false;
  let keys = 0;
  for (const _ in map) if (++keys > 1) return false;
  return true;
}
