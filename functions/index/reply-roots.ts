// post.invalidReplyRoot, as the AppView judges it, kept a function of the posts present (so arrival order and batch
// boundaries do not matter): a reply is invalid when its parent is not indexed, when its parent is itself invalid,
// when it replies to its root but that root is a reply, or when its parent belongs to another thread. It is true, or
// false beside a violatesThreadGate that holds, or null (reply-verdicts.ts: the AppView writes both or neither). A post indexed or removed re-judges its replies, and a change
// travels down the thread.
import type { SqlExecutor } from '../ports.ts';
import { checkRows } from '../sql-rows.ts';
import { replyVerdicts } from './reply-verdicts.ts';

/**
 * A round per level of the thread below a change, as deep as the change travels: a verdict stopped part way would stay
 * wrong, since no later batch knows where it stopped (a delete in a thread 200 deep once left 135 replies valid under
 * it). It ends: a round goes on only with the posts whose flag changed, and a verdict is the parent's OR the reply's
 * own conditions (no negation), so even a cycle of replies settles. The bound is a guard against a defect, not a depth.
 */
const MAX_ROUNDS = 1_000_000;

/**
 * Re-judges the replies named ($1) and the replies to the posts named ($2); returns each post whose flag changed.
 * Every read of post is a lookup by key that the plan cannot turn into a scan: each key is looked up on its own
 * (`unnest` and a lateral subquery the planner may not flatten, `offset 0`), and the update finds its rows by a list
 * of keys. Planner statistics cannot be relied on (a server with autovacuum off, a table grown since its last
 * ANALYZE): without them a list of a few hundred keys reads as a large share of the table, and the joins this
 * statement once wrote as joins were planned as three scans of the whole post table on every batch
 * (tests/integration/index/post-plans.test.ts, on tables analysed and not). The update reaches post by the list of
 * the judged keys and joins the verdicts to it, in key order as the plans seen here run it.
 */
export const REJUDGE = `with s as (
     select p.uri, p."replyParent", p."replyRoot" from unnest($1::text[]) as k(uri)
       cross join lateral (select uri, "replyParent", "replyRoot" from post
         where post.uri = k.uri and "replyParent" is not null offset 0) as p
     union select p.uri, p."replyParent", p."replyRoot" from unnest($2::text[]) as k(parent)
       cross join lateral (select uri, "replyParent", "replyRoot" from post where post."replyParent" = k.parent offset 0) as p),
   c as materialized (
     select s.uri, case when p.uri is null or p."invalidReplyRoot" then true
       when s."replyParent" = s."replyRoot" then case when p."replyRoot" is not null then true end
       when p."replyRoot" is distinct from s."replyRoot" then true end as v
     from s left join lateral (select uri, "invalidReplyRoot", "replyRoot" from post
       where post.uri = s."replyParent" offset 0) as p on true
     order by s.uri)
   update post set ${replyVerdicts('c.v', 'post."violatesThreadGate"')} from c
   where post.uri = any(array(select c.uri from c)) and post.uri = c.uri
     and coalesce(post."invalidReplyRoot", false) <> coalesce(c.v, false)
   returning post.uri`;

/** Re-judges `posts` and the replies to `parents`, then whatever their changes reach; returns the posts it changed. */
export async function judgeReplyRoots(tx: SqlExecutor, posts: readonly string[], parents: readonly string[]): Promise<string[]> {
  let own = [...posts];
  let under = [...parents];
  const all: string[] = [];
  for (let round = 0; own.length > 0 || under.length > 0; round++) {
    if (round === MAX_ROUNDS) throw new Error(`reply-root re-judgement still changing posts after ${MAX_ROUNDS} rounds`);
    // A changed post's replies are re-judged in the next round (a lookup by replyParent that finds none for most).
    const changed = checkRows(await tx.query(REJUDGE, [own, under]), { uri: 'string' });
    for (const r of changed) all.push(r.uri);
    own = [];
    under = changed.map((r) => r.uri);
  }
  return all;
}
