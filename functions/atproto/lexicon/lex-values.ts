// The lex-JSON forms a lexicon check must tell apart from plain objects: {"$link": cid} is a CID link and
// {"$bytes": base64} is bytes (each the only key), as lex-json.ts writes them from DAG-CBOR.
import type { CID } from 'multiformats/cid';
import { parseCid } from '../cid.ts';

/**
 * True for an object that is a map of fields: not null, an array, a link or bytes. A map or array under a
 * `__proto__` key makes it no plain object to the AppView (its decoder assigns the key, which sets the prototype),
 * so the AppView refuses such a record wherever its lexicon looks at that object; we do the same.
 */
export function isPlainMap(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const map = value as Record<string, unknown>;
  if (Object.hasOwn(map, '__proto__') && typeof map['__proto__'] === 'object' && map['__proto__'] !== null) return false;
  return !isSpecialForm(map);
}

function isSpecialForm(value: Record<string, unknown>): boolean {
  const link = value['$link'];
  const bytes = value['$bytes'];
  if (typeof link !== 'string' && typeof bytes !== 'string') return false;
  for (const key in value) if (key !== '$link' && key !== '$bytes') return false;
  return Object.keys(value).length === 1;
}

/** The CID of a {"$link"} value, or undefined when the value is not a link to a CID. */
export function linkCid(value: unknown): CID | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const link = (value as Record<string, unknown>)['$link'];
  if (typeof link !== 'string' || Object.keys(value).length !== 1) return undefined;
  // Base32 is lower case in a CID string: the AppView's parser refuses upper case, where ours would fold it.
  if (link.startsWith('b') && link !== link.toLowerCase()) return undefined;
  return parseCid(link);
}

/** The byte count of a {"$bytes"} value (unpadded base64), or undefined when the value is not bytes. */
export function bytesLength(value: unknown): number | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const text = (value as Record<string, unknown>)['$bytes'];
  if (typeof text !== 'string' || Object.keys(value).length !== 1) return undefined;
  // Either base64 alphabet, as the AppView's lex-JSON reader takes both (and fromBase64 here reads both).
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(text)) return undefined;
  const body = text.replace(/=+$/, '');
  if (body.length % 4 === 1) return undefined;
  return Math.floor((body.length * 3) / 4);
}

/** True when every value inside is in the atproto data model (integers only; links and bytes well formed). */
export function isLexValue(value: unknown): boolean {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isSafeInteger(value);
  if (Array.isArray(value)) return value.every(isLexValue);
  if (typeof value !== 'object') return false;
  const map = value as Record<string, unknown>;
  if (isSpecialForm(map)) return '$link' in map ? linkCid(map) !== undefined : bytesLength(map) !== undefined;
  return Object.values(map).every(isLexValue);
}
