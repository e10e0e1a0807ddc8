// AT-URI syntax (the strict form records use): at://<did or handle>[/<nsid>[/<record key>]][#<fragment>], at most
// 8 KiB, with each part passing its own syntax check.
import { isValidAtIdentifier } from './at-identifier.ts';
import { isValidNsid } from './nsid.ts';
import { isValidRecordKey } from './record-key.ts';

const ATURI_RE =
  /^at:\/\/([a-zA-Z0-9._:%-]+)(\/([a-zA-Z0-9-.]+)(\/([a-zA-Z0-9._~:@!$&%')(*+,;=-]+))?)?(#(\/[a-zA-Z0-9._~:@!$&%')(*+,;=\-[\]/\\]*))?$/;

export const MAX_ATURI_LENGTH = 8 * 1024;

export function isValidAtUri(value: string): boolean {
  if (value.length > MAX_ATURI_LENGTH) return false;
  const m = ATURI_RE.exec(value);
  if (m === null) return false;
  if (!isValidAtIdentifier(m[1] ?? '')) return false;
  const collection = m[3];
  if (collection !== undefined && !isValidNsid(collection)) return false;
  const rkey = m[5];
  return rkey === undefined || isValidRecordKey(rkey);
}

/**
 * The lexicon `at-uri` format exactly as the AppView's strict validator decides it (@atproto/syntax isAtUriString,
 * strict): isValidAtUri, with a stricter fragment, which must be a JSON pointer with no backslash and well-formed
 * percent-encoding of UTF-8. So `at://a.com#/a\b`, `at://a.com#/%zz` and `at://a.com#/%FF` are refused here and
 * accepted by isValidAtUri (kept as is: ingestion relies on it).
 */
export function isLexiconAtUri(value: string): boolean {
  if (!isValidAtUri(value)) return false;
  const hashAt = value.indexOf('#');
  if (hashAt < 0) return true;
  const fragment = value.slice(hashAt + 1);
  if (fragment.includes('\\')) return false;
  try {
    decodeURIComponent(fragment);
    return true;
  } catch {
    return false; // `%` without two hex digits, or escapes that are not UTF-8
  }
}
