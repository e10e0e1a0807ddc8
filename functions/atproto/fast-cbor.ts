// The live hot path's DAG-CBOR decoder: @atcute/cbor, normalised to the values the rest of functions/ works with (CidLink for
// links, Uint8Array for bytes). NOTE: measured in `npm run bench` (decode), cborg's token-based decoder capped the
// firehose path at about a quarter of the target; cborg stays for encoding (cbor.ts).
import { decode, decodeFirst, BytesWrapper, CidLinkWrapper } from '@atcute/cbor';
import { CidLink } from './cid-link.ts';
import { scanCborItem, scanCborWhole } from './cbor-scan.ts';

function normalise(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (value instanceof CidLinkWrapper) return new CidLink(value.bytes);
  if (value instanceof BytesWrapper) return value.buf;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = normalise(value[i]);
    return value;
  }
  const obj = value as Record<string, unknown>;
  for (const key in obj) obj[key] = normalise(obj[key]);
  return obj;
}

// Every decode is preceded by the structural scan (cbor-scan.ts): nesting past MAX_CBOR_DEPTH and lengths that lie
// throw CborScanError before @atcute/cbor allocates a level (it has no depth limit; normalise recurses).
export function decodeCborFast(bytes: Uint8Array): unknown {
  scanCborWhole(bytes);
  return normalise(decode(bytes));
}

/**
 * The DAG-CBOR map `bytes` hold. Anything else (bytes that are not DAG-CBOR; null, a list, a number, a link) goes to
 * `refuse` with why, and `refuse` throws the caller's own error: a block that hashes to its CID may hold any value.
 */
export function decodeCborMap(bytes: Uint8Array, refuse: (why: string) => never): Record<string, unknown> {
  let value: unknown;
  try {
    value = decodeCborFast(bytes);
  } catch (err) {
    return refuse(`not DAG-CBOR: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof CidLink || value instanceof Uint8Array) {
    return refuse('not a map');
  }
  return value as Record<string, unknown>;
}

export function decodeCborFirstFast(bytes: Uint8Array): [unknown, Uint8Array] {
  const end = scanCborItem(bytes, 0);
  const [value, rest] = decodeFirst(bytes.subarray(0, end)) as [unknown, Uint8Array];
  if (rest.length !== 0) throw new TypeError('item ends before its scanned length');
  return [normalise(value), bytes.subarray(end)];
}
