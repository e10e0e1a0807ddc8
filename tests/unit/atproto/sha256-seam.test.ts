// Both sides of the `#sha256` runtime seam give the same 32-character binary digest, for bytes and for strings
// (hashed as UTF-8), as node:crypto's reference digest.
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sha256Binary as nodeSha256 } from '../../../functions/atproto/sha256-node.ts';
import { sha256Binary as webSha256 } from '../../../functions/atproto/sha256-web.ts';

const INPUTS: (string | Uint8Array)[] = ['', 'app.bsky.feed.post/3jqfcqzm3fo2j', 'ünïcødé ✓ 🦋', new Uint8Array(0), new Uint8Array(randomBytes(1000))];

describe('#sha256 seam', () => {
  it.each(INPUTS.map((input, i) => [i, input] as const))('input %i: node and web agree with the reference digest', async (_i, input) => {
    const reference = createHash('sha256').update(input).digest('latin1');
    expect(reference).toHaveLength(32);
    expect(await nodeSha256(input)).toBe(reference);
    expect(await webSha256(input)).toBe(reference);
  });
});
