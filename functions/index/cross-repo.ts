// What a batch derives from other repos' posts, judged again after it committed. Inside its transaction a batch sees
// only what other transactions had committed when each statement began: with two batches in flight (consumer loops,
// shards), a reply in one and its parent in the other each miss the other, and the reply stayed an invalid reply root
// with no reply notification. So, once a batch that wrote or deleted posts has committed, a short transaction of its
// own re-judges them: the reply roots of its posts and of the replies to them, and the reply notifications their
// chains now complete. Of two such batches, the one that commits last sees both, so the pair ends as if indexed one
// after the other. Both steps only change what differs: after a batch alone, they change nothing.
// NOTE: thread-gate and post-gate verdicts are still judged only inside the transaction (README, Known limits).
import type { SqlExecutor } from '../ports.ts';
import { holdIndexLock } from './account-store.ts';
import { judgeReplyRoots } from './reply-roots.ts';
import { notifyPosts } from './post-notifications.ts';

/** Arbitrary, constant: "skytide cross-repo re-judgement" (next to the index's other locks in account-store.ts). */
const REJUDGE_LOCK = 7_323_054;

export interface PostsTouched {
  /** Posts the batch created or updated. */
  written: string[];
  /** Posts the batch deleted. */
  removed: string[];
}

export async function rejudgeAfterCommit(tx: SqlExecutor, posts: PostsTouched): Promise<void> {
  if (posts.written.length === 0 && posts.removed.length === 0) return;
  await holdIndexLock(tx, 'shared');
  // One re-judgement at a time: two that ran together could both find the same notification missing and both write it.
  await tx.query('select pg_advisory_xact_lock($1)', [REJUDGE_LOCK]);
  await judgeReplyRoots(tx, posts.written, [...posts.written, ...posts.removed]);
  await notifyPosts(tx, undefined, [], posts.written);
}
