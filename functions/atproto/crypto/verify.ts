// ECDSA signature checks for atproto (cryptography spec): SHA-256 of the message, a 64-byte compact r||s signature,
// and low-S only on both curves, so a signature has exactly one valid encoding. DER is rejected by length and format.
// Pure JS (@noble/curves), so it runs unchanged in Workers.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { p256 } from '@noble/curves/nist.js';
import type { PublicKey } from './keys.ts';

export function verifySignature(key: PublicKey, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== 64) return false;
  const curve = key.curve === 'k256' ? secp256k1 : p256;
  try {
    return curve.verify(signature, message, key.bytes, { prehash: true, lowS: true, format: 'compact' });
  } catch {
    return false;
  }
}
