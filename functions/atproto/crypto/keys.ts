// atproto signing keys: `did:key:z...` and the `publicKeyMultibase` of a DID document's verification method. Both
// are base58btc multibase; current documents prefix the compressed point with its multicodec (secp256k1-pub 0xe7,
// p256-pub 0x1200); legacy ones carry the bare point and name the curve in the method's `type`.
import { base58btc } from 'multiformats/bases/base58';
import { SkytideError } from '../../errors.ts';

export type Curve = 'k256' | 'p256';

export interface PublicKey {
  curve: Curve;
  /** The SEC1 point: 33 bytes compressed, or 65 uncompressed in some legacy documents. */
  bytes: Uint8Array;
}

const K256_PREFIX = [0xe7, 0x01];
const P256_PREFIX = [0x80, 0x24];

/** A DID document's key that is not a usable K-256 or P-256 key (`identity_failed`). */
export class KeyFormatError extends SkytideError {
  constructor(message: string) {
    super('identity_failed', message);
    this.name = 'KeyFormatError';
  }
}

/**
 * The longest multibase a key can take: `z` and base58btc of at most 67 bytes (a multicodec prefix and a compressed
 * point, or an uncompressed legacy point) is 93 characters. NOTE: checked before decoding, which is quadratic in the
 * length: a DID document (64 KB) with one 60,000-character key held the event loop for seconds.
 */
export const MAX_KEY_MULTIBASE_LENGTH = 128;

function decodeKeyMultibase(multibase: string, what: string): Uint8Array {
  if (!multibase.startsWith('z')) throw new KeyFormatError(`${what} is not base58btc (z...)`);
  if (multibase.length > MAX_KEY_MULTIBASE_LENGTH) throw new KeyFormatError(`${what} is ${multibase.length} characters, longer than any key`);
  try {
    return base58btc.decode(multibase);
  } catch {
    throw new KeyFormatError(`${what} is not valid base58btc`);
  }
}

function startsWith(bytes: Uint8Array, prefix: number[]): boolean {
  return prefix.every((b, i) => bytes[i] === b);
}

function compressed(curve: Curve, bytes: Uint8Array): PublicKey {
  if (bytes.length !== 33 || (bytes[0] !== 0x02 && bytes[0] !== 0x03)) throw new KeyFormatError('not a 33-byte compressed point');
  return { curve, bytes };
}

function point(curve: Curve, bytes: Uint8Array): PublicKey {
  if (bytes.length === 65 && bytes[0] === 0x04) return { curve, bytes };
  return compressed(curve, bytes);
}

/** A multibase multikey: `z` + base58btc(multicodec prefix + compressed point). */
export function parseMultikey(multibase: string): PublicKey {
  const bytes = decodeKeyMultibase(multibase, 'multikey');
  if (startsWith(bytes, K256_PREFIX)) return compressed('k256', bytes.subarray(2));
  if (startsWith(bytes, P256_PREFIX)) return compressed('p256', bytes.subarray(2));
  throw new KeyFormatError('multikey has an unsupported multicodec (only secp256k1-pub and p256-pub)');
}

export function parseDidKey(did: string): PublicKey {
  if (!did.startsWith('did:key:')) throw new KeyFormatError('not a did:key');
  return parseMultikey(did.slice('did:key:'.length));
}

/** Legacy verification methods: a bare point (compressed or uncompressed), curve from the method type. */
export function parseLegacyMultibase(multibase: string, type: string): PublicKey {
  const curve: Curve | undefined = type === 'EcdsaSecp256k1VerificationKey2019' ? 'k256' : type === 'EcdsaSecp256r1VerificationKey2019' ? 'p256' : undefined;
  if (curve === undefined) throw new KeyFormatError(`unsupported verification method type ${type}`);
  return point(curve, decodeKeyMultibase(multibase, 'key'));
}

/** The 33-byte compressed form of a point: the parity of y, then x. */
export function compressPoint(point: Uint8Array): Uint8Array {
  if (point.length === 33) return point;
  const out = new Uint8Array(33);
  out[0] = (point[64]! & 1) === 1 ? 0x03 : 0x02;
  out.set(point.subarray(1, 33), 1);
  return out;
}

export function formatDidKey(key: PublicKey): string {
  const prefix = key.curve === 'k256' ? K256_PREFIX : P256_PREFIX;
  const point = compressPoint(key.bytes);
  const bytes = new Uint8Array(prefix.length + point.length);
  bytes.set(prefix);
  bytes.set(point, prefix.length);
  return `did:key:${base58btc.encode(bytes)}`;
}

/** The `#atproto` signing key of a DID document's verification methods, in either encoding. */
export function atprotoKeyOf(doc: { id?: unknown; verificationMethod?: unknown }): PublicKey {
  const methods = Array.isArray(doc.verificationMethod) ? doc.verificationMethod : [];
  for (const m of methods as { id?: unknown; type?: unknown; publicKeyMultibase?: unknown }[]) {
    const id = typeof m.id === 'string' ? m.id : '';
    if (id !== '#atproto' && id !== `${String(doc.id)}#atproto`) continue;
    if (typeof m.publicKeyMultibase !== 'string') throw new KeyFormatError('#atproto method has no publicKeyMultibase');
    return m.type === 'Multikey' ? parseMultikey(m.publicKeyMultibase) : parseLegacyMultibase(m.publicKeyMultibase, String(m.type));
  }
  throw new KeyFormatError('document has no #atproto verification method');
}

/** Which library verifies K-256 signatures in a process: each `#ecdsa` backend names itself (start-up logs it). */
export type K256Backend = 'libsecp256k1' | 'openssl' | '@noble/curves';
