// AT-URI syntax (the strict form records use): at://<did or handle>[/<nsid>[/<record key>]][#<fragment>], at most
// 8 KiB, with each part passing its own syntax check.
import { isValidAtIdentifier } from './at-identifier.ts';
import { isValidDid } from './did.ts';
import { isValidHandle } from './handle.ts';
import { isValidNsid } from './nsid.ts';
import { isValidRecordKey } from './record-key.ts';

const ATURI_RE =
  /^at:\/\/([a-zA-Z0-9._:%-]+)(\/([a-zA-Z0-9-.]+)(\/([a-zA-Z0-9._~:@!$&%')(*+,;=-]+))?)?(#(\/[a-zA-Z0-9._~:@!$&%')(*+,;=\-[\]/\\]*))?$/;

export const MAX_ATURI_LENGTH = 8 * 1024;

export function isValidAtUri(value: string): boolean {
  if (value.length > MAX_ATURI_LENGTH) return false;
  const m = ATURI_RE.exec(value);
  if (m === null) return false;
  const authority = m[1] ?? '';
  if (!(authority.startsWith('did:') ? isValidDid(authority) : isValidHandle(authority))) return false;
  const collection = m[3];
  if (collection !== undefined && !isValidNsid(collection)) return false;
  const rkey = m[5];
  return rkey === undefined || isValidRecordKey(rkey);
}

/**
 * The lexicon `at-uri` format exactly as the AppView's strict validator decides it (@atproto/syntax isAtUriString,
 * strict). It differs from isValidAtUri (kept as is) only in the fragment, which must be a JSON pointer: a `/`
 * then [A-Za-z0-9._~:@!$&'()*+,;=%[\]/-] (no backslash), with well-formed percent-encoding of UTF-8. So
 * `at://a.com#/a\b`, `at://a.com#/%zz` and `at://a.com#/%FF` are refused here and accepted by isValidAtUri.
 * No query and no trailing slash, as in isValidAtUri.
 */
export function isLexiconAtUri(value: string): boolean {
  if (value.length > MAX_ATURI_LENGTH || !LEXICON_ATURI_RE.test(value)) return false;
  const hashAt = value.indexOf('#');
  const path = value.slice('at://'.length, hashAt < 0 ? value.length : hashAt);
  if (path.includes('?')) return false; // a query
  // authority[/collection[/rkey]], no empty segment (so no trailing slash)
  const [authority, collection, rkey, ...rest] = path.split('/');
  if (rest.length > 0 || !isValidAtIdentifier(authority!)) return false;
  if (collection !== undefined && !isValidNsid(collection)) return false;
  if (rkey !== undefined && !isValidRecordKey(rkey)) return false;
  if (hashAt < 0) return true;
  const fragment = value.slice(hashAt + 1);
  if (!JSON_POINTER_RE.test(fragment)) return false;
  try {
    decodeURIComponent(fragment);
    return true;
  } catch {
    return false; // `%` without two hex digits, or escapes that are not UTF-8
  }
}

/** `at://`, then only the characters the AppView admits anywhere in an AT-URI (ASCII). */
const LEXICON_ATURI_RE = /^at:\/\/[a-zA-Z0-9._~:@!$&'()*+,;=%/\\[\]#?-]*$/;
const JSON_POINTER_RE = /^\/[a-zA-Z0-9._~:@!$&'()*+,;=%[\]/-]*$/;
