// post.invalidReplyRoot, as the AppView judges it, kept a function of the posts present (so arrival order and batch
// boundaries do not matter): a reply is invalid when its parent is not indexed, when its parent is itself invalid,
// when it replies to its root but that root is a reply, or when its parent belongs to another thread. It is true or
// null (the AppView leaves a valid reply's flag unset). A post indexed or removed re-judges its replies, and a change
// travels down the thread.
import type { SqlExecutor } from '../ports.ts';
import { checkRows } from '../sql-rows.ts';

/** Rounds of propagation per batch; a thread deeper than this below one change is finished by later batches. */
const MAX_DEPTH = 64;

/**
 * Re-judges the replies named ($1) and the replies to the posts named ($2); returns each post whose flag changed and
 * whether it has replies of its own. Two index lookups (by uri, by replyParent) joined by UNION: an OR of the two
 * scans the whole post table whatever its size (tests/integration/index/post-plans.test.ts).
 */
export const REJUDGE = `with s as (
     select uri, "replyParent", "replyRoot" from post where uri = any($1::text[]) and "replyParent" is not null
     union select uri, "replyParent", "replyRoot" from post where "replyParent" = any($2::text[])),
   c as (
     select s.uri, case when p.uri is null or p."invalidReplyRoot" then true
       when s."replyParent" = s."replyRoot" then case when p."replyRoot" is not null then true end
       when p."replyRoot" is distinct from s."replyRoot" then true end as v
     from s left join post p on p.uri = s."replyParent"
     order by s.uri)
   update post set "invalidReplyRoot" = c.v from c
   where post.uri = c.uri and post."invalidReplyRoot" is distinct from c.v
   returning post.uri, exists (select 1 from post k where k."replyParent" = post.uri) as replied`;

/** Re-judges `posts` and the replies to `parents`, then whatever their changes reach; returns the posts it changed. */
export async function judgeReplyRoots(tx: SqlExecutor, posts: readonly string[], parents: readonly string[]): Promise<string[]> {
  let own = [...posts];
  let under = [...parents];
  const all: string[] = [];
  for (let round = 0; round < MAX_DEPTH && (own.length > 0 || under.length > 0); round++) {
    // A changed post's replies are re-judged in the next round only if it has any (most have none).
    const changed = checkRows(await tx.query(REJUDGE, [own, under]), { uri: 'string', replied: 'boolean' });
    for (const r of changed) all.push(r.uri);
    own = [];
    under = changed.filter((r) => r.replied).map((r) => r.uri);
  }
  return all;
}
