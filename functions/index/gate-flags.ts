// The posts a batch leaves with hasThreadGate / hasPostGate false, as its events applied one at a time would. The
// AppView sets the flag false when it removes the gate row of a post that exists then (a gate's delete, or the first
// half of its update); a post indexed afterwards starts over (true under a gate row, else unset). A batch writes only
// each URI's last op, and gates before posts: a gate made and deleted in the batch never had a row to remove, and a
// post the batch creates is not there yet when its gate's row goes. So the batch's ops of each gate and of its post
// are replayed here, in stream order under the rev rule.
import type { SqlExecutor } from '../ports.ts';
import type { RecordEvent } from '../events.ts';
import { checkRows } from '../sql-rows.ts';
import { gatedPost, gateMatchesPost } from './gates.ts';
import { postRows } from './plugins/post.ts';
import { push } from './processor.ts';
import { transitions } from './transitions.ts';
import type { CountedOp, StoredOp } from './plugins/types.ts';

/**
 * Of the posts these gate ops belong to, those whose last flag change in the batch is a gate row removed while the post
 * existed. `postOps` are the batch's ops of those posts; `before` holds what `record` held for both before the batch.
 * Read before the post plugin writes: the post table is still as the batch found it.
 */
export async function postsLeftUngated(
  tx: SqlExecutor, gateOps: readonly CountedOp[], postOps: readonly CountedOp[], before: ReadonlyMap<string, StoredOp>,
): Promise<string[]> {
  // Grouped by URI in one pass each (a copy per op, or a filter of every post op per gate, was quadratic in a batch
  // holding many gates, a backfilled repo's).
  const gates = new Map<string, CountedOp[]>();
  for (const op of gateOps) push(gates, op.uri, op);
  const opsOfPost = new Map<string, CountedOp[]>();
  for (const op of postOps) push(opsOfPost, op.uri, op);
  const posts = [...new Set([...gates.keys()].flatMap((uri) => gatedPost(uri) ?? []))].sort();
  if (posts.length === 0) return [];
  const existing = new Set(checkRows(await tx.query(`select uri from post where uri = any($1::text[])`, [posts]), { uri: 'string' }).map((r) => r.uri));
  const out: string[] = [];
  for (const [gateUri, ops] of gates) {
    const postUri = gatedPost(gateUri);
    if (postUri === undefined) continue;
    const steps = [
      ...transitions(before.get(gateUri), ops).map((t) => ({ ...t, post: false })),
      ...transitions(before.get(postUri), opsOfPost.get(postUri) ?? []).map((t) => ({ ...t, post: true })),
    ].sort((a, b) => a.position - b.position);
    let exists = existing.has(postUri);
    let cleared = false;
    for (const step of steps) {
      if (step.post) {
        // The version it holds written again (a resync, a replay at a later rev) is no new row: kept whole, flag and all.
        if (step.to.type !== 'delete' && step.fromCid === step.to.cid) continue;
        exists = isPost(postUri, step.to);
        cleared = false;
        continue;
      }
      const was = step.from !== null && gateMatchesPost(gateUri, step.from);
      const is = step.to.type !== 'delete' && gateMatchesPost(gateUri, step.to.record);
      if (exists && (was || is)) cleared = !is;
    }
    if (exists && cleared) out.push(postUri);
  }
  return out;
}

/** Whether this op leaves a post row (a write with a post's shape). */
function isPost(uri: string, e: RecordEvent): boolean {
  if (e.type === 'delete') return false;
  return postRows({ uri, cid: e.cid, did: e.did, collection: e.collection, rkey: e.rkey, record: e.record, indexedAt: e.time }) !== undefined;
}
