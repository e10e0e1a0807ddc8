// Readers for lex-JSON record fields. Records come from the network: every field is checked, never assumed.
import type { JsonObject, JsonValue } from './types.ts';
import { cleanText } from '../rows.ts';
import { isValidDatetime } from '../../atproto/syntax/datetime.ts';
import { isValidAtUri } from '../../atproto/syntax/at-uri.ts';
import { isValidDid } from '../../atproto/syntax/did.ts';

export function obj(value: JsonValue | undefined): JsonObject | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? value : undefined;
}

export function str(value: JsonValue | undefined): string | undefined {
  return typeof value === 'string' ? cleanText(value) : undefined;
}

const EPOCH = '1970-01-01T00:00:00.000Z';
const CANONICAL = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$/;

const FIRST_MS = Date.parse('0000-01-01T00:00:00.000Z');
const LAST_MS = Date.parse('9999-12-31T23:59:59.999Z');

/**
 * Like the AppView (normalizeDatetimeAlways): a datetime is normalised to ISO with Z; anything else, or an instant
 * outside years 0000-9999 once in UTC, becomes the epoch, never an error. (Not the profile's: see profile.ts.)
 */
export function createdAt(value: JsonValue | undefined): string {
  if (typeof value !== 'string') return EPOCH;
  // Already in the normal form (how nearly every client writes it), a valid one is returned unchanged.
  if (value.length === 24 && CANONICAL.test(value) && isValidDatetime(value)) return value;
  const ms = Date.parse(value);
  return Number.isNaN(ms) || ms < FIRST_MS || ms > LAST_MS ? EPOCH : new Date(ms).toISOString();
}

/** `{uri, cid}` with an AT-URI and a CID string: replies, likes, reposts, quotes. */
export function strongRef(value: JsonValue | undefined): { uri: string; cid: string } | undefined {
  const o = obj(value);
  const uri = str(o?.['uri']);
  const cid = str(o?.['cid']);
  if (uri === undefined || cid === undefined || cid.length === 0 || !isValidAtUri(uri)) return undefined;
  return { uri, cid };
}

export function did(value: JsonValue | undefined): string | undefined {
  return typeof value === 'string' && isValidDid(value) ? value : undefined;
}

/** A blob's CID: current form `{ref: {$link}}`, legacy form `{cid}`. */
export function blobCid(value: JsonValue | undefined): string | undefined {
  const o = obj(value);
  if (o === undefined) return undefined;
  const link = str(obj(o['ref'])?.['$link']);
  return link ?? str(o['cid']);
}

export function stringArray(value: JsonValue | undefined): string[] | undefined {
  if (!Array.isArray(value)) return undefined;
  return value.filter((v): v is string => typeof v === 'string').map(cleanText);
}

/** The earlier of two ISO timestamps: `sortAt` clamps a createdAt from the future to the index time. */
export function earliest(a: string, b: string): string {
  return a < b ? a : b;
}

export function collectionOf(uri: string): string {
  return uri.split('/')[3] ?? '';
}

/** The parts of an AT-URI `at://<did>/<collection>/<rkey>`, or undefined for any other shape. */
export function uriParts(uri: string): { did: string; collection: string; rkey: string } | undefined {
  if (!uri.startsWith('at://')) return undefined;
  const parts = uri.slice(5).split('/');
  if (parts.length !== 3) return undefined;
  const [d, collection, rkey] = parts as [string, string, string];
  return isValidDid(d) && collection.length > 0 && rkey.length > 0 ? { did: d, collection, rkey } : undefined;
}

/** An AT-URI string field, checked. */
export function atUri(value: JsonValue | undefined): string | undefined {
  return typeof value === 'string' && isValidAtUri(value) ? cleanText(value) : undefined;
}

/** A JSON value kept as text, as the AppView stores facets. */
export function jsonText(value: JsonValue | undefined): string | null {
  return value === undefined ? null : cleanText(JSON.stringify(value));
}
