// ECDSA signature checks for atproto (cryptography spec): SHA-256 of the message, a 64-byte compact r||s signature,
// and low-S only on both curves, so a signature has exactly one valid encoding. DER is rejected by length and format.
// The backend is the runtime seam `#ecdsa` (package.json "imports"): node:crypto under Node, @noble/curves elsewhere.
import { verifyEcdsa } from '#ecdsa';
import type { PublicKey } from './keys.ts';

export function verifySignature(key: PublicKey, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== 64) return false;
  return verifyEcdsa(key.curve, key.bytes, message, signature);
}
