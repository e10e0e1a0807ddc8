// ECDSA verification with node:crypto (OpenSSL), several times faster than pure JS. OpenSSL accepts high-S
// signatures, so low-S is checked here first. Imported public keys are cached: one key verifies many commits.
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import type { Curve } from './keys.ts';

// SubjectPublicKeyInfo prefixes for a compressed (33-byte) or uncompressed (65-byte) point on each curve.
const SPKI: Record<Curve, Record<number, string>> = {
  k256: { 33: '3036301006072a8648ce3d020106052b8104000a032200', 65: '3056301006072a8648ce3d020106052b8104000a034200' },
  p256: { 33: '3039301306072a8648ce3d020106082a8648ce3d030107032200', 65: '3059301306072a8648ce3d020106082a8648ce3d030107034200' },
};
// n/2 of each curve, big-endian: s above it is the high-S twin of a valid signature.
const HALF_ORDER: Record<Curve, Uint8Array> = {
  k256: Uint8Array.from(Buffer.from('7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0', 'hex')),
  p256: Uint8Array.from(Buffer.from('7fffffff800000007fffffffffffffffde737d56d38bcf4279dce5617e3192a8', 'hex')),
};

/** 0 < s <= n/2, compared as 32-byte big-endian numbers without building a bigint per signature. */
function isLowS(curve: Curve, signature: Uint8Array): boolean {
  const s = signature.subarray(32);
  if (s.every((b) => b === 0)) return false;
  const half = HALF_ORDER[curve];
  for (let i = 0; i < 32; i++) {
    if (s[i] !== half[i]) return s[i]! < half[i]!;
  }
  return true;
}

const CACHE_LIMIT = 10_000;
const cache = new Map<string, KeyObject>();

function keyObject(curve: Curve, point: Uint8Array): KeyObject | undefined {
  const prefix = SPKI[curve][point.length];
  if (prefix === undefined) return undefined;
  const id = curve + Buffer.from(point.buffer, point.byteOffset, point.byteLength).toString('latin1');
  let key = cache.get(id);
  if (key === undefined) {
    try {
      key = createPublicKey({ key: Buffer.concat([Buffer.from(prefix, 'hex'), point]), format: 'der', type: 'spki' });
    } catch {
      return undefined;
    }
    if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
    cache.set(id, key);
  }
  return key;
}

export function verifyEcdsa(curve: Curve, point: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (!isLowS(curve, signature)) return false;
  const key = keyObject(curve, point);
  if (key === undefined) return false;
  try {
    return verify('sha256', message, { key, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    return false;
  }
}
