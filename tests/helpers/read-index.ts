// The index as the e2e tests compare it with the PDS truth: same shapes as pds-truth.ts's ExpectedIndex.
import type { Sql } from '../../functions/ports.ts';
import type { ExpectedIndex } from './pds-truth.ts';
import { checkRows } from '../../functions/sql-rows.ts';

export async function readIndex(sql: Sql, dids: readonly string[]): Promise<ExpectedIndex> {
  const scope = JSON.stringify(dids);
  const mine = `did in (select jsonb_array_elements_text($1::text::jsonb))`;
  const created = `creator in (select jsonb_array_elements_text($1::text::jsonb))`;
  const records = checkRows(await sql.query(`select uri, cid, json from record where ${mine} order by uri`, [scope]), { uri: 'string', cid: 'string', json: 'string' });
  return {
    records: records.map((r) => ({ uri: r.uri, cid: r.cid, json: JSON.parse(r.json) })),
    posts: await sql.query(`select uri, text, "replyParent", "replyRoot" from post where ${created} order by uri`, [scope]) as ExpectedIndex['posts'],
    likes: await sql.query(`select uri, subject from "like" where ${created} order by uri`, [scope]) as ExpectedIndex['likes'],
    reposts: await sql.query(`select uri, subject from repost where ${created} order by uri`, [scope]) as ExpectedIndex['reposts'],
    follows: await sql.query(`select uri, "subjectDid" from follow where ${created} order by uri`, [scope]) as ExpectedIndex['follows'],
    blocks: await sql.query(`select uri, "subjectDid" from actor_block where ${created} order by uri`, [scope]) as ExpectedIndex['blocks'],
    profiles: await sql.query(`select uri, "displayName", description from profile where ${created} order by uri`, [scope]) as ExpectedIndex['profiles'],
    quotes: await sql.query(`select q.uri, q.subject from quote q join post p on p.uri = q.uri where p.${created} order by q.uri`, [scope]) as ExpectedIndex['quotes'],
    postAgg: await sql.query(
      `select uri, "likeCount", "replyCount", "repostCount", "quoteCount" from post_agg
       where "likeCount" <> 0 or "replyCount" <> 0 or "repostCount" <> 0 or "quoteCount" <> 0 order by uri`,
    ) as ExpectedIndex['postAgg'],
    profileAgg: await sql.query(
      `select did, "followersCount", "followsCount", "postsCount" from profile_agg
       where "followersCount" <> 0 or "followsCount" <> 0 or "postsCount" <> 0 order by did`,
    ) as ExpectedIndex['profileAgg'],
  };
}
