// A strict DAG-CBOR (DRISL) decoder with cborg, for tests that read back what was encoded (the pipeline decodes with
// functions/atproto/fast-cbor.ts and lex-cbor.ts): CIDs are tag 42 over a 0x00-prefixed CID (decoded as CidLink),
// and nothing outside the data model decodes (undefined, NaN, Infinity, indefinite lengths, duplicate keys).
import { decode, type DecodeOptions, type TagDecoder } from 'cborg';
import { CidLink } from '../../functions/atproto/cid-link.ts';
import { scanCborWhole } from '../../functions/atproto/cbor-scan.ts';

const CID_TAG = 42;

const tags: TagDecoder[] = [];
// cborg 6 hands a tag decoder a control function; calling it decodes the tagged item.
tags[CID_TAG] = (decodeInner) => {
  const bytes = decodeInner();
  if (!(bytes instanceof Uint8Array) || bytes[0] !== 0 || bytes.length < 3) throw new Error('invalid CID link: expected a 0x00-prefixed byte string');
  return new CidLink(bytes.subarray(1));
};

const DECODE_OPTIONS: DecodeOptions = {
  tags,
  allowUndefined: false,
  allowIndefinite: false,
  allowNaN: false,
  allowInfinity: false,
  rejectDuplicateMapKeys: true,
  useMaps: false,
};

/** Decodes one whole DAG-CBOR item. Scanned first (cbor-scan.ts): cborg decodes nesting level by level with no depth limit. */
export function decodeCbor(bytes: Uint8Array): unknown {
  scanCborWhole(bytes);
  return decode(bytes, DECODE_OPTIONS);
}
