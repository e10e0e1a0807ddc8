// AT-URI syntax (the strict form records use): at://<did or handle>[/<nsid>[/<record key>]][#<fragment>], at most
// 8 KiB, with each part passing its own syntax check.
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
