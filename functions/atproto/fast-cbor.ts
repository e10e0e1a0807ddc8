// The live hot path's DAG-CBOR decoder: @atcute/cbor, normalised to the same values cbor.ts yields (CidLink for
// links, Uint8Array for bytes). NOTE: measured in `npm run bench` (decode), cborg's token-based decoder capped the
// firehose path at about a quarter of the target; cborg stays for encoding and everything off the hot path.
import { decode, decodeFirst, BytesWrapper, CidLinkWrapper } from '@atcute/cbor';
import { CidLink } from './cid-link.ts';

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

export function decodeCborFast(bytes: Uint8Array): unknown {
  return normalise(decode(bytes));
}

export function decodeCborFirstFast(bytes: Uint8Array): [unknown, Uint8Array] {
  const [value, rest] = decodeFirst(bytes) as [unknown, Uint8Array];
  return [normalise(value), rest];
}
