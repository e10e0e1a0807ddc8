// DAG-CBOR (DRISL) encoding with cborg: CIDs are written as tag 42 over a 0x00-prefixed CID, map keys in canonical
// (length-first) order, floats as 64 bits, and nothing outside the data model encodes (undefined). Decoding is done
// elsewhere: `fast-cbor.ts` (frames, commits, MST nodes) and `lex-cbor.ts` (records, straight to lex-JSON).
import { encode, Token, Type, type EncodeOptions } from 'cborg';
import { CidLink } from './cid-link.ts';

const CID_TAG = 42;

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

export function encodeCbor(value: unknown): Uint8Array {
  return encode(value, ENCODE_OPTIONS);
}
