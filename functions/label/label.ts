// One label (label spec; com.atproto.label.defs#label): parsed from the lex-JSON a label_live entry carries, checked
// against the spec, and turned back into the exact bytes its issuer signed.
// Promises: a label that passes `parseLabel` has a DID `src`, a URI `uri`, a CID string `cid` when present, a `val`
// of at most 128 bytes, datetimes `cts` and `exp`, `ver` 1 when present, and `sig` as bytes when present; every string
// is well-formed UTF-16 without NUL (Postgres stores it exactly, so the signature still verifies when read back).
// `signingBytes` is the DAG-CBOR of the spec fields as received, minus `sig` (ver kept, `$type` and unknown fields
// dropped): what the spec says was signed. Nothing here throws on upstream data; a bad label is a message.
import { encodeCbor } from '../atproto/cbor.ts';
import { parseCid } from '../atproto/cid.ts';
import { fromBase64, toBase64 } from '../atproto/lex-json.ts';
import { isValidDatetime } from '../atproto/syntax/datetime.ts';
import { isValidDid } from '../atproto/syntax/did.ts';
import type { JsonObject } from '../events.ts';

export interface Label {
  ver?: number;
  src: string;
  uri: string;
  cid?: string;
  val: string;
  /** As received: `neg: false` stays in the signed bytes when the issuer wrote it. */
  neg?: boolean;
  cts: string;
  exp?: string;
  sig?: Uint8Array;
}

/** The spec's limit on `val` (lexicon maxLength, in UTF-8 bytes). */
export const MAX_LABEL_VAL_BYTES = 128;
/**
 * Subjects are URIs. A label's key (src, uri, cid, val) is a B-tree key in `label` and `label_version`, which Postgres
 * caps at 2,704 bytes a row: a longer one failed the whole batch and went to the DLQ (found in review). 2,048 bytes of
 * uri (UTF-8) leave room for the longest DID, a CID and a value.
 */
export const MAX_LABEL_URI_BYTES = 2 * 1024;
/** The longest `src` kept: a did:plc is 32 characters; a did:web names a host (at most 253). */
export const MAX_LABEL_SRC_BYTES = 300;
/** A compact ECDSA signature is 64 bytes; anything far longer is not one. */
const MAX_SIG_BYTES = 1024;

const utf8 = new TextEncoder();
const utf8Bytes = (s: string): number => utf8.encode(s).length;

export type LabelParse = { ok: true; label: Label } | { ok: false; message: string };

const URI_RE = /^[a-z][a-z0-9+.-]*:[^\s]+$/i;

function isCleanString(value: string): boolean {
  return !value.includes('\u0000') && value.isWellFormed();
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * rsky wrote `cts` with chrono's Display (`2024-05-01 12:00:00.123 UTC`) and `null` for absent fields. Its labels
 * carry no signature, so normalising them breaks nothing; signed labels are never touched.
 */
export function normalizeRskyLabel(value: unknown): unknown {
  if (!isObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== null) out[k] = v;
  const cts = out['cts'];
  if (typeof cts === 'string') {
    const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?) UTC$/.exec(cts);
    if (m !== null) out['cts'] = `${m[1]}T${m[2]}Z`;
  }
  return out;
}

/** Checks one label's lex-JSON against the spec. Unknown fields are ignored (they were not signed). */
export function parseLabel(value: unknown): LabelParse {
  if (!isObject(value)) return { ok: false, message: 'label is not an object' };
  const problems: string[] = [];
  const str = (key: string, required: boolean): string | undefined => {
    const v = value[key];
    if (v === undefined) {
      if (required) problems.push(`${key} is missing`);
      return undefined;
    }
    if (typeof v !== 'string' || !isCleanString(v)) {
      problems.push(`${key} is not a clean string`);
      return undefined;
    }
    return v;
  };
  const src = str('src', true);
  if (src !== undefined && !isValidDid(src)) problems.push('src is not a DID');
  else if (src !== undefined && utf8Bytes(src) > MAX_LABEL_SRC_BYTES) problems.push(`src is longer than ${MAX_LABEL_SRC_BYTES} bytes`);
  const uri = str('uri', true);
  if (uri !== undefined && !URI_RE.test(uri)) problems.push('uri is not a URI');
  else if (uri !== undefined && utf8Bytes(uri) > MAX_LABEL_URI_BYTES) problems.push(`uri is longer than ${MAX_LABEL_URI_BYTES} bytes`);
  const cid = str('cid', false);
  // NOTE: an empty cid would be stored as '' (the AppView's "no cid") and read back without one: not the signed label.
  if (cid !== undefined && parseCid(cid) === undefined) problems.push('cid is not a CID');
  const val = str('val', true);
  if (val !== undefined && (val.length === 0 || utf8Bytes(val) > MAX_LABEL_VAL_BYTES)) {
    problems.push(`val must be 1 to ${MAX_LABEL_VAL_BYTES} bytes`);
  }
  const cts = str('cts', true);
  if (cts !== undefined && !isValidDatetime(cts)) problems.push('cts is not a datetime');
  const exp = str('exp', false);
  if (exp !== undefined && !isValidDatetime(exp)) problems.push('exp is not a datetime');
  const neg = value['neg'];
  if (neg !== undefined && typeof neg !== 'boolean') problems.push('neg is not a boolean');
  const ver = value['ver'];
  // Version 1 is the only one there is; another version's signing rules are unknown to us.
  if (ver !== undefined && ver !== 1) problems.push('ver is not 1');
  let sig: Uint8Array | undefined;
  const rawSig = value['sig'];
  if (rawSig !== undefined) {
    const b64 = isObject(rawSig) && Object.keys(rawSig).length === 1 ? rawSig['$bytes'] : undefined;
    if (typeof b64 !== 'string' || b64.length > (MAX_SIG_BYTES * 4) / 3 + 4) problems.push('sig is not {"$bytes"}');
    else {
      try {
        sig = fromBase64(b64);
      } catch {
        problems.push('sig is not base64');
      }
    }
  }
  if (problems.length > 0) return { ok: false, message: problems.join('; ') };
  const label: Label = { src: src!, uri: uri!, val: val!, cts: cts! };
  if (ver === 1) label.ver = 1;
  if (cid !== undefined) label.cid = cid;
  if (typeof neg === 'boolean') label.neg = neg;
  if (exp !== undefined) label.exp = exp;
  if (sig !== undefined) label.sig = sig;
  return { ok: true, label };
}

/** What the issuer signed: the spec fields present, minus `sig`, as DAG-CBOR (canonical key order). */
export function signingBytes(label: Label): Uint8Array {
  const unsigned: Record<string, unknown> = {};
  if (label.ver !== undefined) unsigned['ver'] = label.ver;
  unsigned['src'] = label.src;
  unsigned['uri'] = label.uri;
  if (label.cid !== undefined) unsigned['cid'] = label.cid;
  unsigned['val'] = label.val;
  if (label.neg !== undefined) unsigned['neg'] = label.neg;
  unsigned['cts'] = label.cts;
  if (label.exp !== undefined) unsigned['exp'] = label.exp;
  return encodeCbor(unsigned);
}

/** The label as lex-JSON in the lexicon's field order, `sig` as `{"$bytes"}`. */
export function labelToLex(label: Label): JsonObject {
  const out: JsonObject = {};
  if (label.ver !== undefined) out['ver'] = label.ver;
  out['src'] = label.src;
  out['uri'] = label.uri;
  if (label.cid !== undefined) out['cid'] = label.cid;
  out['val'] = label.val;
  if (label.neg !== undefined) out['neg'] = label.neg;
  out['cts'] = label.cts;
  if (label.exp !== undefined) out['exp'] = label.exp;
  if (label.sig !== undefined) out['sig'] = { $bytes: toBase64(label.sig) };
  return out;
}
