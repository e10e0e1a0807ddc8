// The AppView's post removal (its deleteFn, run for a delete and for an update alike) deletes every `quote` row naming
// the post as its subject: the quoting posts stay, with their embed rows and notifications, but they no longer count
// as its quotes, and a quote indexed before the post's delete or update never does again (nor when the post is made
// again). A quote indexed after it is a quote as usual. Here the same, by stream position, so that batch boundaries
// and replays end alike: a post's last op in the batch that removed or replaced it (its removal), and the quotes of it
// whose current version was not written after that op in the batch go, their quoteCount with them.
import type { SqlExecutor } from '../ports.ts';
import type { AggregateDeltas } from './aggregates.ts';
import type { RecordOp } from './plan.ts';
import type { StoredOp } from './plugins/types.ts';
import { transitions } from './transitions.ts';
import { checkRows } from '../sql-rows.ts';

const POST = 'app.bsky.feed.post';

/** The post URIs with more than one counted op in the batch: their removals are found op by op (`postRemovals`). */
export function postsWithSeveralOps(counted: readonly RecordOp[]): string[] {
  const seen = new Set<string>();
  const several = new Set<string>();
  for (const op of counted) {
    if (op.event.collection !== POST) continue;
    if (seen.has(op.uri)) several.add(op.uri);
    seen.add(op.uri);
  }
  return [...several];
}

/**
 * The position of each post's last removal in the batch: an op the rev rule let through that deletes it, replaces a
 * live version of it, or is an update (the AppView purges before it looks whether there was a post). `before` holds
 * what `record` held of the posts with several ops (postsWithSeveralOps); a post with one op is judged by the rev
 * gate's outcome: `changed` (the op applied) and `fresh` (there was no live row before it).
 */
export function postRemovals(
  counted: readonly RecordOp[], changed: ReadonlySet<string>, fresh: ReadonlySet<string>, before: ReadonlyMap<string, StoredOp>,
): Map<string, number> {
  const byUri = new Map<string, RecordOp[]>();
  for (const op of counted) {
    if (op.event.collection !== POST) continue;
    const list = byUri.get(op.uri);
    if (list === undefined) byUri.set(op.uri, [op]);
    else list.push(op);
  }
  const out = new Map<string, number>();
  for (const [uri, ops] of byUri) {
    if (ops.length === 1) {
      const op = ops[0] as RecordOp;
      if (changed.has(uri) && (op.event.type !== 'create' || !fresh.has(uri))) out.set(uri, op.position);
      continue;
    }
    for (const t of transitions(before.get(uri), ops)) {
      if (t.to.type !== 'create' || t.from !== null) out.set(uri, Math.max(out.get(uri) ?? -1, t.position));
    }
  }
  return out;
}

/**
 * Deletes the quote rows of the removed posts (subject) but those of quoting posts this batch wrote after the
 * removal (`winners` that changed: each one's current version was written at its position), counting what went. A
 * post quoting itself, updated, keeps its new quote: the AppView purges before it writes the new version's rows.
 */
export async function purgeQuotesOfRemoved(
  tx: SqlExecutor, removed: ReadonlyMap<string, number>, winners: readonly RecordOp[], changed: ReadonlySet<string>, deltas: AggregateDeltas,
): Promise<void> {
  if (removed.size === 0) return;
  const written = winners.filter((w) => w.event.collection === POST && w.event.type !== 'delete' && changed.has(w.uri));
  const subjects = [...removed.keys()].sort();
  const gone = checkRows(await tx.query(
    `delete from quote q using unnest($1::text[], $2::int[]) as p(subject, at) where q.subject = p.subject ` +
      `and not exists (select 1 from unnest($3::text[], $4::int[]) as w(uri, at) where w.uri = q.uri and w.at >= p.at) ` +
      `returning q.subject`,
    [subjects, subjects.map((s) => removed.get(s) as number), written.map((w) => w.uri), written.map((w) => w.position)],
  ), { subject: 'string' });
  for (const q of gone) deltas.post(q.subject, 'quoteCount', -1);
}
