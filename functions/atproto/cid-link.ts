// A CID as the hot path needs it: its raw bytes, and its base32 string only on demand. Building a
// multiformats CID object per link cost more than decoding the CBOR around it (measured in `npm run bench`).
import { CID } from 'multiformats/cid';
import { base32Multibase } from './base32.ts';

export class CidLink {
  readonly bytes: Uint8Array;
  #string: string | undefined;

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  toString(): string {
    // A CIDv1 string is multibase base32 ('b' prefix) of its bytes; a CIDv0 (sha2-256 multihash) prints base58.
    this.#string ??= this.bytes[0] === 0x01 ? base32Multibase(this.bytes) : CID.decode(this.bytes).toString();
    return this.#string;
  }

  toCID(): CID {
    return CID.decode(this.bytes);
  }

  static from(value: unknown): CidLink | undefined {
    if (value instanceof CidLink) return value;
    const cid = CID.asCID(value);
    return cid === null ? undefined : new CidLink(cid.bytes);
  }
}
