// When a post was last deleted, once it exists again. A delete's time normally stays in `record_tombstone`, and a
// quote older than it that a lagging lane indexes later loses its row by it (gates.ts, the re-judgement). A post
// written again after its delete (the same record re-posted, a resync) gives up its tombstone, and with it that time:
// `post_removal` keeps it (migration 0020). Written only on that rare path; an account's purge clears it.
import type { SqlExecutor } from '../ports.ts';

/** Keeps the latest delete time of each post: `removedAt` never moves back. */
export const REMEMBER_CONFLICT = `on conflict (uri) do update set "removedAt" = excluded."removedAt" where post_removal."removedAt" < excluded."removedAt"`;

/** Notes that these posts were deleted at these times and are written again after (post-fates.ts, `deletedAt`). */
export async function rememberRemovals(tx: SqlExecutor, removals: readonly { uri: string; time: string }[]): Promise<void> {
  if (removals.length === 0) return;
  // `distinct on` keeps each post's latest time, and its order by uri writes in key order.
  await tx.query(
    `insert into post_removal (uri, did, "removedAt")
     select distinct on (uri) uri, split_part(uri, '/', 3), time from unnest($1::text[], $2::text[]) as r(uri, time)
     order by uri, time desc ${REMEMBER_CONFLICT}`,
    [removals.map((r) => r.uri), removals.map((r) => r.time)],
  );
}

/** The re-judgement's test: a delete of the quoted post, later than the quote, that the post's new version outlived. */
export const DELETED_SINCE_QUOTED = `exists (select 1 from post_removal r where r.uri = q.subject and r."removedAt" > q."indexedAt")`;
