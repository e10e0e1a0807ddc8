// What a batch derives from other repos' posts and gates, judged again after it committed. Inside its transaction a
// batch sees only what other transactions had committed when each statement began: with two batches in flight
// (consumer loops, shards), a reply in one and its parent in the other each missed the other (the reply stayed an
// invalid reply root with no reply notification), and so did a reply and the thread gate it breaks, a quote and the
// post gate it breaks, a post and its own gate. So, once a batch that wrote posts or gates has committed, a short
// transaction of its own judges them again: reply roots of its posts and of the replies to them; thread-gate verdicts
// of its replies and of the replies under its gates, post-gate verdicts of its quotes and of the quotes of its gated
// posts (counts and notifications follow the flips); its posts' gate flags; the reply notifications their chains
// now complete; and the quote rows of posts a delete or an edit later in time removed, which the AppView's deleteFn
// takes. Of two such batches, the one that commits last sees both, so the pair ends as if indexed one after the
// other. Every step changes only what differs: after a batch alone, nothing. A batch applied before (retried
// after its re-judgement failed, or claimed again after the process stopped between its two transactions) has its
// posts and gates judged again though its rev gate lets nothing through: that re-judgement may never have run.
import type { SqlExecutor } from '../ports.ts';
import { checkRows } from '../sql-rows.ts';
import type { RecordOp } from './plan.ts';
import { AggregateDeltas } from './aggregates.ts';
import { holdIndexLock } from './account-store.ts';
import { judgeReplyRoots } from './reply-roots.ts';
import { notifyPosts } from './post-notifications.ts';
import { gatedPost, rejudgeQuotes, rejudgeQuotesByUri, rejudgeRepliesByUri, rejudgeThreads } from './gates.ts';
import { obj } from './plugins/fields.ts';
import { POST_COLLECTION } from './plugins/post-collection.ts';

/** Arbitrary, constant: "skytide cross-repo re-judgement" (next to the index's other locks in account-store.ts). */
const REJUDGE_LOCK = 7_323_054;

export interface PostsTouched {
  /** Posts the batch created or updated. */
  written: string[];
  /** Of those, the replies. */
  replies: string[];
  /** Of those, the ones that embed a record (a quote, when it is a post). */
  quotes: string[];
  /** Posts the batch deleted (a delete older than the repo's snapshot too, which the rev rule may have refused). */
  removed: string[];
  /** When each of those was deleted (its event's time). */
  removedAt: string[];
  /**
   * Posts the batch wrote over a record it held (an edit, or the replay of a write): not created by it; and those an
   * edit older than the repo's snapshot changed (no row written; the post holds a later version).
   */
  edited: string[];
  /**
   * When each of those lost the version before, where the batch knows (its last removal's event time: an earlier
   * delete's, for a post deleted and made again, whose new version removed nothing); '' for the post row's time (the
   * write's own, or, for a rewrite of the CID it has, that of the version's first write).
   */
  editedAt: string[];
  /**
   * Of `edited`, those delivered again exactly (a replay of the batch: the op's rev and CID already stored): their
   * version's first write may have been a create, which removed nothing, so a quote made after the post's last delete
   * (post_removal) is left. A write of the CID held at a later rev (a resync, a backfill) is no edit: not in `edited`.
   */
  rewritten: string[];
  /** The batch's snapshot as it began (`pg_current_snapshot()`): what committed after it ran beside the batch. */
  snapshot?: string;
  /** The batch's own transaction ID: its rows are its own, though its snapshot cannot see them. */
  xid?: string;
  /** Posts whose thread gate the batch wrote or deleted. */
  threadGated: string[];
  /** Posts whose post gate the batch wrote or deleted. */
  postGated: string[];
}

const THREADGATE = 'app.bsky.feed.threadgate';
const POSTGATE = 'app.bsky.feed.postgate';
const RECORD_EMBEDS = new Set(['app.bsky.embed.record', 'app.bsky.embed.recordWithMedia']);
/** The collections a re-judgement reads. */
const CROSS_REPO = new Set([POST_COLLECTION, THREADGATE, POSTGATE]);

/**
 * The posts and gates among the batch's winning ops that its rev gate let through (`changed`); `inserted`, those whose
 * record the batch created; `removedAt`, when a written post's last removal in the batch was, where not the write;
 * `rewritten`, the posts replayed exactly; `keptWhole`, those written again at the CID they hold by a later rev (no
 * edit: their version's quotes are not purged); `past`, the ops older than the repo's snapshot (plugins/types.ts,
 * `pastVersions`).
 */
export function postsTouched(
  winners: readonly RecordOp[], changed: ReadonlySet<string>, inserted: ReadonlySet<string>, removedAt: ReadonlyMap<string, string>,
  rewritten: ReadonlySet<string>, keptWhole: ReadonlySet<string>, past: readonly RecordOp[],
): PostsTouched {
  const touched: PostsTouched = { written: [], replies: [], quotes: [], removed: [], removedAt: [], edited: [], editedAt: [], rewritten: [], threadGated: [], postGated: [] };
  for (const { uri, event } of winners) {
    if (!changed.has(uri)) continue;
    if (event.collection === POST_COLLECTION) {
      if (event.type === 'delete') {
        touched.removed.push(uri);
        touched.removedAt.push(event.time);
        continue;
      }
      touched.written.push(uri);
      if (!inserted.has(uri) && !keptWhole.has(uri)) {
        touched.edited.push(uri);
        touched.editedAt.push(removedAt.get(uri) ?? '');
        if (rewritten.has(uri)) touched.rewritten.push(uri);
      }
      if (event.record['reply'] !== undefined) touched.replies.push(uri);
      const embed = obj(event.record['embed'])?.['$type'];
      if (typeof embed === 'string' && RECORD_EMBEDS.has(embed)) touched.quotes.push(uri);
    } else gateTouched(touched, uri, event.collection);
  }
  // Ops older than the repo's snapshot write no row, but judge again too: a gate's versions join its history, a
  // post's edit or delete takes the quotes older than it that a batch in flight beside this one wrote.
  for (const { uri, event } of past) {
    if (event.collection !== POST_COLLECTION) gateTouched(touched, uri, event.collection);
    else if (event.type === 'delete') {
      touched.removed.push(uri);
      touched.removedAt.push(event.time);
    } else if (event.type === 'update') {
      touched.edited.push(uri);
      touched.editedAt.push(event.time);
    }
  }
  return touched;
}

function gateTouched(touched: PostsTouched, uri: string, collection: string): void {
  if (collection !== THREADGATE && collection !== POSTGATE) return;
  const post = gatedPost(uri);
  if (post !== undefined) (collection === THREADGATE ? touched.threadGated : touched.postGated).push(post);
}

/**
 * Of the batch's post and gate ops the rev gate did not let through, the URIs already stored exactly as the op
 * leaves them (a write's rev and CID in `record`, a delete's rev in `record_tombstone`): the batch's replay, to be
 * judged again after commit like the posts it changed.
 */
export async function replayedPostOps(tx: SqlExecutor, winners: readonly RecordOp[], changed: ReadonlySet<string>): Promise<Set<string>> {
  const ops = winners.filter(({ uri, event }) => !changed.has(uri) && CROSS_REPO.has(event.collection));
  if (ops.length === 0) return new Set();
  const rows = checkRows(await tx.query(
    `select k.uri from unnest($1::text[], $2::text[], $3::text[]) as k(uri, rev, cid) where case when k.cid = ''
       then exists (select 1 from record_tombstone t where t.uri = k.uri and t.rev = k.rev)
       else exists (select 1 from record r where r.uri = k.uri and r.rev = k.rev and r.cid = k.cid) end`,
    [ops.map((op) => op.uri), ops.map((op) => op.event.rev), ops.map(({ event }) => (event.type === 'delete' ? '' : event.cid))],
  ), { uri: 'string' });
  return new Set(rows.map((r) => r.uri));
}

export const nothingTouched = (t: PostsTouched): boolean =>
  t.written.length === 0 && t.removed.length === 0 && t.edited.length === 0 && t.threadGated.length === 0 && t.postGated.length === 0;

export async function rejudgeAfterCommit(tx: SqlExecutor, posts: PostsTouched): Promise<void> {
  if (nothingTouched(posts)) return;
  await holdIndexLock(tx, 'shared');
  // One re-judgement at a time: two that ran together could both find the same notification missing and both write it.
  await tx.query('select pg_advisory_xact_lock($1)', [REJUDGE_LOCK]);
  const deltas = new AggregateDeltas();
  // A reply whose chain another batch completed (or broke) changes its reply-root verdict here; those are the posts
  // whose reply notifications may be missing (their own, and those below them).
  const rechained = await judgeReplyRoots(tx, posts.replies, [...posts.written, ...posts.removed], posts.replies);
  await rejudgeRepliesByUri(tx, posts.replies, deltas);
  await rejudgeThreads(tx, posts.threadGated, deltas);
  // A quote and the delete or edit of the post it quotes, in two batches in flight, missed each other: whichever
  // commits last deletes the quote row here when the quote is older than the delete or edit (event times stand in for
  // the stream's order).
  await purgeQuotesOfRemoved(tx, posts, deltas);
  await rejudgeQuotesByUri(tx, posts.quotes, deltas, posts.snapshot, posts.xid);
  await rejudgeQuotes(tx, posts.postGated);
  await refreshGateFlags(tx, [...new Set([...posts.written, ...posts.threadGated, ...posts.postGated])]);
  await notifyPosts(tx, undefined, [], rechained);
  await deltas.apply(tx);
}

/**
 * Deletes the quote rows naming the batch's deleted posts that are older than the delete, and those naming the posts it
 * wrote over a record it held (an edit: the AppView's update purges them; a rewrite of the same CID keeps them) that
 * quote another version and are older than the one written, counting them. A post the batch created purges nothing:
 * as the AppView's insert.
 */
async function purgeQuotesOfRemoved(tx: SqlExecutor, posts: PostsTouched, deltas: AggregateDeltas): Promise<void> {
  if (posts.removed.length === 0 && posts.edited.length === 0) return;
  const gone = checkRows(await tx.query(
    `delete from quote q using (
       select r.uri, r.time, null::text as cid from unnest($1::text[], $2::text[]) as r(uri, time)
       union all select s.uri, coalesce(nullif(e.time, ''), s."indexedAt"), s.cid from unnest($3::text[], $4::text[]) as e(uri, time)
         join post s on s.uri = e.uri
     ) as x where q.subject = x.uri and q."indexedAt" < x.time and (x.cid is null or q."subjectCid" <> x.cid)
       and not (x.uri = any($5::text[]) and exists (select 1 from post_removal r where r.uri = x.uri and r."removedAt" <= q."indexedAt"))
     returning q.subject`,
    [posts.removed, posts.removedAt, posts.edited, posts.editedAt, posts.rewritten],
  ), { subject: 'string' });
  for (const g of gone) deltas.post(g.subject, 'quoteCount', -1);
}

/** hasThreadGate / hasPostGate as the gate tables say now: true with a gate, false where a flag was true without. */
async function refreshGateFlags(tx: SqlExecutor, uris: readonly string[]): Promise<void> {
  if (uris.length === 0) return;
  const thread = `(case when exists (select 1 from thread_gate g where g."postUri" = post.uri) then true when "hasThreadGate" then false else "hasThreadGate" end)`;
  const postGate = `(case when exists (select 1 from post_gate g where g."postUri" = post.uri) then true when "hasPostGate" then false else "hasPostGate" end)`;
  await tx.query(
    `update post set "hasThreadGate" = ${thread}, "hasPostGate" = ${postGate}
     where uri = any($1::text[]) and ("hasThreadGate" is distinct from ${thread} or "hasPostGate" is distinct from ${postGate})`,
    [[...uris].sort()],
  );
}
