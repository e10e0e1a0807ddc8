// The interop crypto vectors: signatures on both curves (valid low-S pass; high-S and DER fail) and did:key
// derivation from private keys.
import { readFileSync } from 'node:fs';
import { createECDH } from 'node:crypto';
import { base58btc } from 'multiformats/bases/base58';
import { describe, expect, it } from 'vitest';
import { formatDidKey, parseDidKey, parseLegacyMultibase, type PublicKey } from '../../functions/atproto/crypto/keys.ts';
import { verifySignature } from '../../functions/atproto/crypto/verify.ts';
import { verifyEcdsa as nobleVerify } from '../../functions/atproto/crypto/ecdsa-noble.ts';

const DIR = new URL('../../../shared/fixtures/interop/crypto/', import.meta.url);
const read = <T>(f: string) => JSON.parse(readFileSync(new URL(f, DIR), 'utf8')) as T;
const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));

interface SigCase {
  comment: string;
  messageBase64: string;
  didDocSuite: string;
  publicKeyDid: string;
  publicKeyMultibase: string;
  signatureBase64: string;
  validSignature: boolean;
}

// One suite for every backend of the `#ecdsa` seam: node:crypto (Node) and @noble/curves (Workers).
const BACKENDS = [
  ['seam (node:crypto under Node)', (k: PublicKey, m: Uint8Array, s: Uint8Array) => verifySignature(k, m, s)],
  ['@noble/curves backend', (k: PublicKey, m: Uint8Array, s: Uint8Array) => s.length === 64 && nobleVerify(k.curve, k.bytes, m, s)],
] as const;

describe.each(BACKENDS)('signatures (interop signature-fixtures.json), %s', (_backend, verify) => {
  const cases = read<SigCase[]>('signature-fixtures.json');
  it.each(cases.map((c) => [c.comment, c] as const))('%s', (_name, c) => {
    const fromDid = parseDidKey(c.publicKeyDid);
    const fromMultibase = parseLegacyMultibase(c.publicKeyMultibase, c.didDocSuite);
    expect(fromMultibase).toEqual(fromDid);
    expect(verify(fromDid, b64(c.messageBase64), b64(c.signatureBase64))).toBe(c.validSignature);
  });
});

describe('did:key (interop w3c vectors)', () => {
  const derive = (curve: 'secp256k1' | 'prime256v1', priv: Uint8Array): PublicKey => {
    const ecdh = createECDH(curve);
    ecdh.setPrivateKey(priv);
    return { curve: curve === 'secp256k1' ? 'k256' : 'p256', bytes: new Uint8Array(ecdh.getPublicKey(null, 'compressed')) };
  };
  it('derives every K-256 did:key and parses it back', () => {
    for (const c of read<{ privateKeyBytesHex: string; publicDidKey: string }[]>('w3c_didkey_K256.json')) {
      const key = derive('secp256k1', Buffer.from(c.privateKeyBytesHex, 'hex'));
      expect(formatDidKey(key)).toBe(c.publicDidKey);
      expect(parseDidKey(c.publicDidKey)).toEqual(key);
    }
  });
  it('derives the P-256 did:key and parses it back', () => {
    for (const c of read<{ privateKeyBytesBase58: string; publicDidKey: string }[]>('w3c_didkey_P256.json')) {
      const key = derive('prime256v1', base58btc.baseDecode(c.privateKeyBytesBase58));
      expect(formatDidKey(key)).toBe(c.publicDidKey);
      expect(parseDidKey(c.publicDidKey)).toEqual(key);
    }
  });
  it('rejects keys it cannot use, with a reason', () => {
    expect(() => parseDidKey('did:plc:abc')).toThrow(/not a did:key/);
    expect(() => parseDidKey('did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK')).toThrow(/unsupported multicodec/);
  });
});
