// Exact aggregates without recounting: every plugin reports +1 / -1 for the typed rows it actually inserted or
// deleted (from RETURNING), and the batch applies the summed deltas in its own transaction. Because the rev gate makes
// each row change happen at most once, the counts stay exact under replay, duplicates and reordering.
import type { SqlExecutor } from '../ports.ts';
import { insertRows, type Columns } from './rows.ts';

export type PostCount = 'likeCount' | 'replyCount' | 'repostCount' | 'quoteCount';
export type ProfileCount = 'followersCount' | 'followsCount' | 'postsCount';

const POST_COUNTS: readonly PostCount[] = ['likeCount', 'replyCount', 'repostCount', 'quoteCount'];
const PROFILE_COUNTS: readonly ProfileCount[] = ['followersCount', 'followsCount', 'postsCount'];

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

  async apply(tx: SqlExecutor): Promise<void> {
    await upsertDeltas(tx, 'post_agg', 'uri', POST_COUNTS, this.#posts);
    await upsertDeltas(tx, 'profile_agg', 'did', PROFILE_COUNTS, this.#profiles);
  }
}

async function upsertDeltas<C extends string>(
  tx: SqlExecutor,
  table: string,
  key: string,
  counts: readonly C[],
  deltas: Map<string, Record<C, number>>,
): Promise<void> {
  const rows = [...deltas]
    .filter(([, d]) => counts.some((c) => d[c] !== 0))
    .map(([k, d]) => ({ [key]: k, ...d }));
  if (rows.length === 0) return;
  const columns: Columns = { [key]: 'text' };
  for (const c of counts) columns[c] = 'bigint';
  const set = counts.map((c) => `"${c}" = ${table}."${c}" + excluded."${c}"`).join(', ');
  await insertRows(tx, table, columns, rows, { orderBy: key, onConflict: `("${key}") do update set ${set}` });
}
