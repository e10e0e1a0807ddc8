// sha-256 under Node, picked by the `#sha256` import condition (package.json); elsewhere sha256-web.ts.
// NOTE: the digest comes back as a 32-character binary string (one char per byte), not a Buffer: measured over a
// repo's 93,000 blocks, node:crypto's one-shot hash with 'latin1' output took a third of the time of 'buffer' output,
// which allocates an ArrayBuffer per call (npm run bench, verify). Strings are hashed as their UTF-8 bytes.
import { hash } from 'node:crypto';

export function sha256Binary(data: Uint8Array | string): string | Promise<string> {
  return hash('sha256', data, 'latin1');
}
