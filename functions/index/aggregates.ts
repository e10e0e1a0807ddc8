// Exact aggregates without recounting: every plugin reports +1 / -1 for the typed rows it actually inserted or
// deleted (from RETURNING), and the batch applies the summed deltas in its own transaction. Because the rev gate makes
// each row change happen at most once, the counts stay exact under replay, duplicates and reordering.
//
// A subject whose account is deleted (repo_sync.status = 'deleted') has no counts: its deltas are not applied, and a
// post subject is remembered in deleted_subject so that its counts are recounted from the rows if the account comes
// back (account-deletion.ts). The check runs inside the same statement as the upsert, one probe of a partial index
// per subject, and the index lock (account-store.ts) keeps it atomic against a deletion or a recount.
import type { SqlExecutor, SqlValue } from '../ports.ts';
import { rowSource, type Columns } from './rows.ts';

export type PostCount = 'likeCount' | 'replyCount' | 'repostCount' | 'quoteCount';
export type ProfileCount = 'followersCount' | 'followsCount' | 'postsCount';

export const POST_COUNTS: readonly PostCount[] = ['likeCount', 'replyCount', 'repostCount', 'quoteCount'];
export const PROFILE_COUNTS: readonly ProfileCount[] = ['followersCount', 'followsCount', 'postsCount'];

export class AggregateDeltas {
  readonly #posts = new Map<string, Record<PostCount, number>>();
  readonly #profiles = new Map<string, Record<ProfileCount, number>>();

  post(uri: string, column: PostCount, delta: number): void {
    let row = this.#posts.get(uri);
    if (row === undefined) this.#posts.set(uri, (row = { likeCount: 0, replyCount: 0, repostCount: 0, quoteCount: 0 }));
    row[column] += delta;
  }

  profile(did: string, column: ProfileCount, delta: number): void {
    let row = this.#profiles.get(did);
    if (row === undefined) this.#profiles.set(did, (row = { followersCount: 0, followsCount: 0, postsCount: 0 }));
    row[column] += delta;
  }

  /** Both aggregate tables in ONE statement (a CTE each). */
  async apply(tx: SqlExecutor): Promise<void> {
    const params: SqlValue[] = [];
    const ctes = this.ctes(params);
    if (ctes.length > 0) await tx.query(`with ${ctes.join(', ')} select 1`, params);
  }

  /** The CTEs that apply these deltas (named x, gone, remembered, posts, profiles), their parameters added to `params`. */
  ctes(params: SqlValue[]): string[] {
    const posts = rowsOf('uri', POST_COUNTS, this.#posts);
    const profiles = rowsOf('did', PROFILE_COUNTS, this.#profiles);
    const ctes: string[] = [];
    if (posts.length > 0) {
      ctes.push(
        `x as (select * from ${rowSource(columnsOf('uri', POST_COUNTS), posts, params)})`,
        `gone as (select x.uri from x where exists
           (select 1 from repo_sync r where r.status = 'deleted' and r.did = split_part(x.uri, '/', 3)))`,
        `remembered as (insert into deleted_subject (did, uri) select split_part(uri, '/', 3), uri from gone
           order by 1, 2 on conflict do nothing)`,
        `posts as (insert into post_agg (uri, ${names(POST_COUNTS)})
         select uri, ${names(POST_COUNTS)} from x where not exists (select 1 from gone where gone.uri = x.uri) order by uri
         on conflict (uri) do update set ${increments('post_agg', POST_COUNTS)})`,
      );
    }
    if (profiles.length > 0) {
      ctes.push(
        `profiles as (insert into profile_agg (did, ${names(PROFILE_COUNTS)})
         select did, ${names(PROFILE_COUNTS)} from ${rowSource(columnsOf('did', PROFILE_COUNTS), profiles, params)}
         where not exists (select 1 from repo_sync r where r.status = 'deleted' and r.did = x.did) order by did
         on conflict (did) do update set ${increments('profile_agg', PROFILE_COUNTS)})`,
      );
    }
    return ctes;
  }
}

const names = (counts: readonly string[]) => counts.map((c) => `"${c}"`).join(', ');
const columnsOf = (key: string, counts: readonly string[]): Columns => Object.fromEntries([[key, 'text'], ...counts.map((c) => [c, 'bigint'])]);
const increments = (table: string, counts: readonly string[]) => counts.map((c) => `"${c}" = ${table}."${c}" + excluded."${c}"`).join(', ');

function rowsOf<C extends string>(key: string, counts: readonly C[], deltas: Map<string, Record<C, number>>): Record<string, string | number>[] {
  return [...deltas].filter(([, d]) => counts.some((c) => d[c] !== 0)).map(([k, d]) => ({ [key]: k, ...d }));
}
