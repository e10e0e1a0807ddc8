// ECDSA verification in pure JS (@noble/curves): the backend for runtimes without node:crypto (Workers).
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { p256 } from '@noble/curves/nist.js';
import type { Curve, K256Backend } from './keys.ts';

export const K256_BACKEND: K256Backend = '@noble/curves';

export function verifyEcdsa(curve: Curve, point: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    return (curve === 'k256' ? secp256k1 : p256).verify(signature, message, point, { prehash: true, lowS: true, format: 'compact' });
  } catch {
    return false;
  }
}
