// post.invalidReplyRoot, as the AppView judges it, kept a function of the posts present (so arrival order and batch
// boundaries do not matter): a reply is invalid when its parent is not indexed, when its parent is itself invalid,
// when it replies to its root but that root is a reply, or when its parent belongs to another thread. It is true or
// null (the AppView leaves a valid reply's flag unset). A post indexed or removed re-judges its replies, and a change
// travels down the thread.
import type { SqlExecutor } from '../ports.ts';

/** Rounds of propagation per batch; a thread deeper than this below one change is finished by later batches. */
const MAX_DEPTH = 64;

/** Re-judges `posts` and the replies to `parents`, then whatever their changes reach. */
export async function judgeReplyRoots(tx: SqlExecutor, posts: readonly string[], parents: readonly string[]): Promise<void> {
  let own = [...posts];
  let under = [...parents];
  for (let round = 0; round < MAX_DEPTH && (own.length > 0 || under.length > 0); round++) {
    const changed = await tx.query<{ uri: string }>(
      `with c as (
         select c.uri, case when p.uri is null or p."invalidReplyRoot" then true
           when c."replyParent" = c."replyRoot" then case when p."replyRoot" is not null then true end
           when p."replyRoot" is distinct from c."replyRoot" then true end as v
         from post c left join post p on p.uri = c."replyParent"
         where c."replyParent" is not null and (c.uri in (select json_array_elements_text($1::text::json))
           or c."replyParent" in (select json_array_elements_text($2::text::json)))
         order by c.uri)
       update post set "invalidReplyRoot" = c.v from c
       where post.uri = c.uri and post."invalidReplyRoot" is distinct from c.v returning post.uri`,
      [JSON.stringify(own), JSON.stringify(under)],
    );
    own = [];
    under = changed.map((r) => r.uri);
  }
}
