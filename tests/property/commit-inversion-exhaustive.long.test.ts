// Every pair of trees over a perfect three-layer MST of seven keys (128 x 128, less the 128 pairs with no change):
// the shape of the public exhaustive MST diff vectors, built here from our own mined keys. Each commit is verified
// from the minimal proof (what inversion highest key first reads) with its ops listed in ascending order (where the
// message-order inversion failed 2.7% of the pairs, refusing them as missing_block) and in descending order, and from
// the covering proof the reference PDS sends.
import { describe, expect, it } from 'vitest';
import type { CID } from 'multiformats/cid';
import { verifyCommit, type CommitOp } from '../../functions/atproto/commit/verify-commit.ts';
import { SkytideError } from '../../functions/errors.ts';
import { buildCase, commitMessage, keyHeight, leafCid, link } from '../helpers/commit-proofs.ts';

const HEIGHTS = [0, 1, 0, 2, 0, 1, 0];

async function outcome(p: Promise<{ data: { toString(): string } }>): Promise<string> {
  try {
    return `ok ${(await p).data.toString()}`;
  } catch (err) {
    return err instanceof SkytideError ? err.reason : `crash: ${String(err)}`;
  }
}

describe('commit inversion: every pair of subsets of a small perfect tree', () => {
  it('accepts each from the minimal proof in ascending and descending message order, and from the covering proof', async () => {
    const keys: string[] = [];
    for (let n = 0; keys.length < HEIGHTS.length; n++) {
      const key = `com.example.record/${n.toString(36).padStart(4, '0')}`;
      if ((await keyHeight(key)) === HEIGHTS[keys.length]) keys.push(key);
    }
    const old = await Promise.all(keys.map((k) => leafCid(`${k}#old`)));
    const now = await Promise.all(keys.map((k) => leafCid(`${k}#new`)));
    const failures: string[] = [];
    let commits = 0;
    for (let a = 0; a < 1 << keys.length; a++) {
      for (let b = 0; b < 1 << keys.length; b++) {
        if (a === b) continue;
        const before = new Map<string, CID>();
        const after = new Map<string, CID>();
        const ops: CommitOp[] = [];
        keys.forEach((key, i) => {
          const inBefore = (a >> i) & 1;
          const inAfter = (b >> i) & 1;
          if (inBefore) before.set(key, old[i]!);
          if (inAfter) after.set(key, inBefore ? old[i]! : now[i]!);
          if (inBefore && !inAfter) ops.push({ action: 'delete', path: key, cid: null, prev: link(old[i]!) });
          if (!inBefore && inAfter) ops.push({ action: 'create', path: key, cid: link(now[i]!) });
        });
        const built = await buildCase({ before, after, ops });
        const ok = `ok ${built.rootAfter.toString()}`;
        for (const [proof, order, include] of [
          ['minimal', 'ascending', built.minimal],
          ['minimal', 'descending', built.minimal],
          ['covering', 'ascending', built.covering],
        ] as const) {
          const listed = order === 'ascending' ? ops : [...ops].reverse();
          const result = await outcome(verifyCommit(await commitMessage(built, listed, include), undefined));
          if (result !== ok) failures.push(`trees ${a} -> ${b}, ${proof} proof, ops ${order}: ${result}`);
        }
        commits++;
      }
    }
    expect(commits).toBe(128 * 127);
    expect(failures).toEqual([]);
  }, 10 * 60_000);
});
