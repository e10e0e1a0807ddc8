// ECDSA verification under Node. K-256 goes to libsecp256k1 (the `secp256k1` package's native binding, a prebuilt
// N-API addon) when it loads: about 7x OpenSSL's generic-curve code, which matters because every commit of the
// network is K-256 (npm run bench, verify). P-256, and K-256 when the addon is missing, go to node:crypto
// (OpenSSL). OpenSSL accepts high-S signatures, so low-S is checked here first, for both backends alike.
import { createRequire } from 'node:module';
import { createPublicKey, hash, verify, type KeyObject } from 'node:crypto';
import type { Curve, K256Backend } from './keys.ts';

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

interface Libsecp256k1 {
  /** Throws when the signature or key does not parse; false when it does not verify (high-S included). */
  ecdsaVerify(signature: Uint8Array, digest: Uint8Array, publicKey: Uint8Array): boolean;
}

function loadLibsecp256k1(): Libsecp256k1 | undefined {
  try {
    // `bindings.js` is the native addon only; the package's main entry would fall back to pure-JS elliptic, which is
    // slower than OpenSSL, so a missing addon means node:crypto instead.
    const mod: unknown = createRequire(import.meta.url)('secp256k1/bindings.js');
    if (typeof mod === 'object' && mod !== null && typeof (mod as Libsecp256k1).ecdsaVerify === 'function') return mod as Libsecp256k1;
  } catch {
    // no prebuilt addon for this platform and none compiled at install
  }
  return undefined;
}

const libsecp256k1 = loadLibsecp256k1();

/** Which library verifies K-256 signatures in this process (shown at start-up and in the benchmark). */
export const K256_BACKEND: K256Backend = libsecp256k1 === undefined ? 'openssl' : 'libsecp256k1';

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

/** OpenSSL key objects are costly to import and one key verifies many commits, so they are cached. */
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

/** OpenSSL alone, for both curves (also the K-256 fallback). */
export function verifyWithOpenssl(curve: Curve, point: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (!isLowS(curve, signature)) return false;
  const key = keyObject(curve, point);
  if (key === undefined) return false;
  try {
    return verify('sha256', message, { key, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    return false;
  }
}

/** libsecp256k1 alone (K-256 only); undefined when the addon did not load. */
export const verifyWithLibsecp256k1 = libsecp256k1 === undefined ? undefined : (point: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean => {
  if (!isLowS('k256', signature)) return false;
  try {
    return libsecp256k1.ecdsaVerify(signature, hash('sha256', message, 'buffer'), point);
  } catch {
    return false; // r or s out of range, or a point not on the curve
  }
};

export function verifyEcdsa(curve: Curve, point: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (curve === 'k256' && verifyWithLibsecp256k1 !== undefined) return verifyWithLibsecp256k1(point, message, signature);
  return verifyWithOpenssl(curve, point, message, signature);
}
