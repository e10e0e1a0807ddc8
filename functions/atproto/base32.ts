// Multibase base32 (RFC 4648 lowercase, no padding, 'b' prefix), the string form of every CIDv1 atproto prints.
// NOTE: two characters per table lookup (ten bits), five bytes per step: about 3x multiformats' encoder, and a
// whole-repo backfill prints a CID for every record and every link in it (npm run bench, verify).
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const PAIRS: string[] = Array.from({ length: 1024 }, (_, i) => ALPHABET[i >> 5]! + ALPHABET[i & 31]!);

/** 'b' + base32 of bytes[start, end). */
export function base32Multibase(bytes: Uint8Array, start = 0, end = bytes.length): string {
  let out = 'b';
  let i = start;
  for (; i + 5 <= end; i += 5) {
    const hi = (bytes[i]! << 12) | (bytes[i + 1]! << 4) | (bytes[i + 2]! >> 4);
    const lo = ((bytes[i + 2]! & 15) << 16) | (bytes[i + 3]! << 8) | bytes[i + 4]!;
    out += PAIRS[hi >> 10]! + PAIRS[hi & 1023]! + PAIRS[lo >> 10]! + PAIRS[lo & 1023]!;
  }
  let bits = 0;
  let value = 0;
  for (; i < end; i++) {
    value = ((value << 8) | bytes[i]!) & 0xfff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(value >>> bits) & 31]!;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31]!;
  return out;
}
