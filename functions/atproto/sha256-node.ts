// sha-256 under Node: the one-shot crypto.hash allocates no Hash object per call, which matters across the 200,000
// blocks and keys of a large repo. Picked by the `#sha256` import condition (package.json); elsewhere sha256-web.ts.
import { hash } from 'node:crypto';

export function sha256(bytes: Uint8Array): Uint8Array | Promise<Uint8Array> {
  return hash('sha256', bytes, 'buffer');
}
