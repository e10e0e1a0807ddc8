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
 * it). A round goes on only with the posts whose flag changed. On a tree that ends; on a cycle of replies (possible
 * only with made-up parent CIDs: the index does not check them) the posts of one round are judged from each other's
 * old flags and can swap them for ever (two posts replying to each other did, about a million rounds), or all stay
 * valid (in one batch). A post on a cycle is invalid (no chain of it reaches a root): the posts a call writes are
 * checked in its first round (in the same statement, no statement more), and after CYCLE_CHECK_AFTER rounds the posts still changing are too (a cycle indexed
 * before this check); those on one are pinned invalid, out of later rounds, and what hangs below follows them as any
 * change does. The bound is a guard against a defect, not a depth.
 */
const MAX_ROUNDS = 1_000_000;
/** Rounds before posts still changing are checked for a cycle; a deep thread's change takes a round per level too. */
export const CYCLE_CHECK_AFTER = 64;

/**
 * Re-judges the replies named ($1) and the replies to the posts named ($2), leaving those pinned ($3) as they are;
 * the posts of $4 that have a reply and whose chain of parents comes back to them (a cycle) are invalid, whatever
 * their parents say. Returns each post whose flag changed, and each post found on a cycle (`cyclic`).
 * Every read of post is a lookup by key that the plan cannot turn into a scan: each key is looked up on its own
 * (`unnest` and a lateral subquery the planner may not flatten, `offset 0`), and the update finds its rows by a list
 * of keys. Planner statistics cannot be relied on (a server with autovacuum off, a table grown since its last
 * ANALYZE): without them a list of a few hundred keys reads as a large share of the table, and the joins this
 * statement once wrote as joins were planned as three scans of the whole post table on every batch
 * (tests/integration/index/post-plans.test.ts, on tables analysed and not). The update reaches post by the list of
 * the judged keys and joins the verdicts to it, in key order as the plans seen here run it.
 */
export const REJUDGE = `with recursive up(start, uri, parent) as (
     select p.uri, p.uri, p."replyParent" from unnest($4::text[]) as k(uri)
       cross join lateral (select uri, "replyParent" from post
         where post.uri = k.uri and "replyParent" is not null offset 0) as p
       where exists (select 1 from post r where r."replyParent" = p.uri)
     union all
     select up.start, q.uri, q."replyParent" from up
       cross join lateral (select uri, "replyParent" from post where post.uri = up.parent offset 0) as q)
   cycle uri set looped using path,
   cyc as materialized (select distinct start as uri from up where looped and uri = start),
   s as (
     select p.uri, p."replyParent", p."replyRoot" from unnest($1::text[]) as k(uri)
       cross join lateral (select uri, "replyParent", "replyRoot" from post
         where post.uri = k.uri and "replyParent" is not null offset 0) as p
     union select p.uri, p."replyParent", p."replyRoot" from unnest($2::text[]) as k(parent)
       cross join lateral (select uri, "replyParent", "replyRoot" from post where post."replyParent" = k.parent offset 0) as p
     union select p.uri, p."replyParent", p."replyRoot" from cyc
       cross join lateral (select uri, "replyParent", "replyRoot" from post where post.uri = cyc.uri offset 0) as p),
   c as materialized (
     select s.uri, case when exists (select 1 from cyc where cyc.uri = s.uri) then true
       when p.uri is null or p."invalidReplyRoot" then true
       when s."replyParent" = s."replyRoot" then case when p."replyRoot" is not null then true end
       when p."replyRoot" is distinct from s."replyRoot" then true end as v
     from s left join lateral (select uri, "invalidReplyRoot", "replyRoot" from post
       where post.uri = s."replyParent" offset 0) as p on true
     order by s.uri),
   changed as (
     update post set ${replyVerdicts('c.v', 'post."violatesThreadGate"')} from c
     where post.uri = any(array(select c.uri from c)) and post.uri = c.uri
       and coalesce(post."invalidReplyRoot", false) <> coalesce(c.v, false) and post.uri <> all($3::text[])
     returning post.uri)
   select uri, true as changed, exists (select 1 from cyc where cyc.uri = changed.uri) as cyclic from changed
   union all select uri, false, true from cyc where not exists (select 1 from changed where changed.uri = cyc.uri)`;

/**
 * Re-judges `posts` and the replies to `parents`, then whatever their changes reach; returns the posts it changed.
 * `written`: the replies written now, which alone can close a cycle (a removal cannot, nor a post that is no reply):
 * checked for one in the first round.
 */
export async function judgeReplyRoots(tx: SqlExecutor, posts: readonly string[], parents: readonly string[], written: readonly string[]): Promise<string[]> {
  let own = [...posts];
  let under = [...parents];
  const all: string[] = [];
  const pinned: string[] = [];
  let check = [...written];
  for (let round = 0; own.length > 0 || under.length > 0; round++) {
    if (round === MAX_ROUNDS) throw new Error(`reply-root re-judgement still changing posts after ${MAX_ROUNDS} rounds`);
    // A changed post's replies are re-judged in the next round (a lookup by replyParent that finds none for most).
    const rows = checkRows(await tx.query(REJUDGE, [own, under, pinned, check]), { uri: 'string', changed: 'boolean', cyclic: 'boolean' });
    const changed = rows.filter((r) => r.changed).map((r) => r.uri);
    all.push(...changed);
    const cyclic = rows.filter((r) => r.cyclic && !pinned.includes(r.uri)).map((r) => r.uri);
    pinned.push(...cyclic);
    own = [];
    under = cyclic.length === 0 ? changed : [...new Set([...changed, ...cyclic])];
    check = round + 1 >= CYCLE_CHECK_AFTER ? changed : [];
  }
  return all;
}
