// The interop crypto vectors: signatures on both curves (valid low-S pass; high-S and DER fail) and did:key
// derivation from private keys.
import { readFileSync } from 'node:fs';
import { createECDH } from 'node:crypto';
import { base58btc } from 'multiformats/bases/base58';
import { describe, expect, it } from 'vitest';
import { formatDidKey, parseDidKey, parseLegacyMultibase, type PublicKey } from '../../functions/atproto/crypto/keys.ts';
import { verifySignature } from '../../functions/atproto/crypto/verify.ts';
import { verifyEcdsa as nobleVerify } from '../../functions/atproto/crypto/ecdsa-noble.ts';
import { K256_BACKEND, verifyWithLibsecp256k1, verifyWithOpenssl } from '../../functions/atproto/crypto/ecdsa-node.ts';

const DIR = new URL('../fixtures/interop/crypto/', import.meta.url);
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

// One suite for every backend of the `#ecdsa` seam: under Node libsecp256k1 (K-256) and OpenSSL (P-256, and K-256
// when the addon is missing); @noble/curves on Workers.
const libsecp = verifyWithLibsecp256k1;
const BACKENDS = [
  ['seam (verifySignature under Node)', (k: PublicKey, m: Uint8Array, s: Uint8Array) => verifySignature(k, m, s)],
  ['OpenSSL backend', (k: PublicKey, m: Uint8Array, s: Uint8Array) => s.length === 64 && verifyWithOpenssl(k.curve, k.bytes, m, s)],
  ['libsecp256k1 backend (K-256; OpenSSL for P-256)', (k: PublicKey, m: Uint8Array, s: Uint8Array) =>
    s.length === 64 && (k.curve === 'k256' && libsecp !== undefined ? libsecp(k.bytes, m, s) : verifyWithOpenssl(k.curve, k.bytes, m, s))],
  ['@noble/curves backend', (k: PublicKey, m: Uint8Array, s: Uint8Array) => s.length === 64 && nobleVerify(k.curve, k.bytes, m, s)],
] as const;

describe('K-256 backend under Node', () => {
  it('is libsecp256k1 (the prebuilt addon loads on linux-x64)', () => {
    expect(K256_BACKEND).toBe('libsecp256k1');
    expect(libsecp).toBeDefined();
  });
  it('rejects what does not parse instead of throwing: s >= n, r = 0, a malformed point', () => {
    const c = read<SigCase[]>('signature-fixtures.json').find((x) => x.validSignature && x.publicKeyDid.startsWith('did:key:zQ3s'))!;
    const key = parseDidKey(c.publicKeyDid);
    const message = b64(c.messageBase64);
    const sig = b64(c.signatureBase64);
    expect(verifySignature(key, message, sig)).toBe(true);
    const sMax = sig.slice();
    sMax.fill(0xff, 32);
    const rZero = sig.slice();
    rZero.fill(0, 0, 32);
    const badPoint = key.bytes.slice();
    badPoint[0] = 0x05; // neither an even (02) nor an odd (03) compressed point
    for (const verify of [libsecp!, (p: Uint8Array, m: Uint8Array, s: Uint8Array) => verifyWithOpenssl('k256', p, m, s)]) {
      expect(verify(key.bytes, message, sMax)).toBe(false);
      expect(verify(key.bytes, message, rZero)).toBe(false);
      expect(verify(badPoint, message, sig)).toBe(false);
    }
  });
});

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
