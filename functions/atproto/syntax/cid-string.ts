// Lexicon `cid` format, decided exactly as the AppView does it (@atproto/lex-data validateCidString: multiformats
// 13 CID.parse, then `cid.toString() === input`). Dependency-free, so it runs on Workers and inside syntax/.
//
// What that check really accepts, which is NOT "canonical base32 CIDv1":
// - CID.parse caches the input as the CID's string form for the multibase it was read in, and toString() returns
//   that cache. So the round trip only rejects inputs in a base other than toString's default: base32 (`b`) for
//   CIDv1, base58btc without prefix (`Qm…`) for CIDv0. `z…`/`k…` CIDv1 and every other multibase fail; so does
//   upper-case `B…` (multiformats 13's base32 is case-sensitive). CIDv0 `Qm…` strings pass.
// - Anything the decoders tolerate passes too: trailing `=` padding after base32, non-minimal varints (version 1
//   written as 0x81 0x00), any codec and multihash code and digest length, and in `Q…` strings characters above
//   U+00FF, which the vendored base-x decoder mis-reads instead of rejecting (they zero the low byte so far).
// - Strings over 128 characters are refused before decoding.
// functions/atproto/cid.ts parseCid is not reused: it runs multiformats 14, whose base32 decoder is
// case-insensitive (so `bAFY…` would round-trip through its cache and pass), and it is not dependency-free.

/** No CID string is longer; longer ones are refused before decoding (base58 decodes in time quadratic in the length). */
export const MAX_CID_STRING_LENGTH = 128;

export function isValidCidString(value: string): boolean {
  if (value.length > MAX_CID_STRING_LENGTH) return false;
  if (value[0] === 'b') {
    const bytes = decodeBase32(value.slice(1));
    return bytes !== undefined && cidVersion(bytes) === 1;
  }
  if (value[0] === 'Q') {
    const bytes = decodeBase58(value);
    return bytes !== undefined && cidVersion(bytes) === 0;
  }
  return false;
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** RFC 4648 base32, lower case; trailing `=` ignored; leftover bits must be fewer than 5 and all zero. */
function decodeBase32(text: string): Uint8Array | undefined {
  let end = text.length;
  while (end > 0 && text[end - 1] === '=') end--;
  const out = new Uint8Array(Math.floor((end * 5) / 8));
  let buffer = 0;
  let bits = 0;
  let written = 0;
  for (let i = 0; i < end; i++) {
    const v = BASE32.indexOf(text[i]!);
    if (v < 0) return undefined;
    buffer = ((buffer << 5) | v) & 0xfff; // at most 12 live bits
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[written++] = (buffer >> bits) & 0xff;
    }
  }
  if (bits >= 5 || (buffer & ((1 << bits) - 1)) !== 0) return undefined;
  return out;
}

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const BASE58_MAP = new Uint8Array(256).fill(255);
for (let i = 0; i < BASE58.length; i++) BASE58_MAP[BASE58.charCodeAt(i)] = i;
const BASE58_FACTOR = Math.log(58) / Math.log(256);

/**
 * base58btc as the base-x decoder multiformats 13 vendors, quirks included: a leading space fails, leading `1`s are
 * zero bytes, and a character code above 255 is not rejected (its table lookup is undefined, which poisons the
 * carry into NaN: the lowest byte becomes 0 and nothing carries out of it).
 */
function decodeBase58(source: string): Uint8Array | undefined {
  if (source.length === 0) return new Uint8Array(0);
  if (source[0] === ' ') return undefined;
  let psz = 0;
  let zeroes = 0;
  while (source[psz] === '1') {
    zeroes++;
    psz++;
  }
  const size = ((source.length - psz) * BASE58_FACTOR + 1) >>> 0;
  const b256 = new Uint8Array(size);
  let length = 0;
  for (; psz < source.length; psz++) {
    const code = source.charCodeAt(psz);
    let carry = code < 256 ? BASE58_MAP[code]! : NaN;
    if (carry === 255) return undefined;
    let i = 0;
    for (let it = size - 1; (carry !== 0 || i < length) && it !== -1; it--, i++) {
      carry += (58 * b256[it]!) >>> 0;
      b256[it] = carry % 256 >>> 0;
      carry = (carry / 256) >>> 0;
    }
    if (carry !== 0) return undefined; // the decoder throws ("Non-zero carry")
    length = i;
  }
  let it = size - length;
  while (it !== size && b256[it] === 0) it++;
  const out = new Uint8Array(zeroes + (size - it));
  out.set(b256.subarray(it), zeroes);
  return out;
}

/**
 * The version (0 or 1) of the CID multiformats' CID.decode reads from `bytes`, or -1 when it throws. Its rules:
 * a first varint of 18 (sha2-256's code) means CIDv0, which is a bare multihash; otherwise version (0 or 1) and
 * codec varints come first. Then the multihash code and digest length varints, and the digest must end exactly
 * at the end of the bytes. Codes are not checked, nor varints for minimality.
 */
function cidVersion(bytes: Uint8Array): number {
  let offset = 0;
  const next = (): number | undefined => {
    const read = readVarint(bytes, offset);
    if (read === undefined) return undefined;
    offset = read[1];
    return read[0];
  };
  let version = next();
  if (version === undefined) return -1;
  if (version === 18) {
    version = 0;
    offset = 0;
  } else if (next() === undefined) return -1; // codec
  if (version !== 0 && version !== 1) return -1;
  if (next() === undefined) return -1; // multihash code
  const digestLength = next();
  if (digestLength === undefined) return -1;
  return offset + digestLength === bytes.length ? version : -1;
}

/**
 * [value, next offset] of the varint at `from`, or undefined when the bytes end inside it. Mirrors the vendored
 * `varint` reader: unbounded length, no minimality check, past 28 bits the value is accumulated as a float.
 */
function readVarint(bytes: Uint8Array, from: number): [number, number] | undefined {
  let value = 0;
  let shift = 0;
  let at = from;
  let b: number;
  do {
    if (at >= bytes.length) return undefined;
    b = bytes[at++]!;
    value += shift < 28 ? (b & 0x7f) << shift : (b & 0x7f) * 2 ** shift;
    shift += 7;
  } while (b >= 0x80);
  return [value, at];
}
