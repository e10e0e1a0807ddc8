// `skytide forget <did>`: the filters decide what is written from then on and remove nothing, so an account that asked
// to be left out (INGESTER_EXCLUDE_DIDS) keeps its rows until the operator forgets it. The command, run as operators
// run it against a real Postgres: says what it would remove without --yes and removes nothing; refuses a DID the
// filters keep; with --yes removes every row of the DID and corrects the counts its records fed on other accounts'
// rows; its events still in a stream are not indexed afterwards; run again, it finds nothing left.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { indexBatch } from '../../../functions/index/handler.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { createTestRedis, TEST_REDIS_URL } from '../../helpers/services.ts';
import { follow, like, post, uriOf, write } from '../../helpers/events.ts';
import { checkRows } from '../../../functions/sql-rows.ts';

const CLI = new URL('../../../long-runners/cli/main.ts', import.meta.url).pathname;
const GONE = 'did:plc:forgetforgetforgetforget';
const STAYS = 'did:plc:staysstaysstaysstaysstay';
const POST = 'app.bsky.feed.post';

let db: IndexDb;
let redis: Awaited<ReturnType<typeof createTestRedis>>;

beforeAll(async () => {
  db = await createIndexDb('cli_forget');
  redis = await createTestRedis('forget');
});
afterAll(async () => {
  await redis?.cleanup();
  await db?.close();
});

function cli(args: string[], extra: Record<string, string> = {}): { code: number | null; lines: Record<string, unknown>[]; stderr: string } {
  const out = spawnSync(process.execPath, [CLI, ...args], {
    env: {
      PATH: process.env['PATH'] ?? '', DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: redis.prefix,
      SKYTIDE_API_TOKEN: 'secret-token', INGESTER_EXCLUDE_DIDS: GONE, ...extra,
    },
    encoding: 'utf8',
  });
  return { code: out.status, lines: out.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>), stderr: out.stderr };
}

const count = async (text: string, params: string[] = []) =>
  checkRows(await db.sql.query(`select count(*)::int as n from ${text}`, params), { n: 'number' })[0]!.n;

describe('skytide forget', () => {
  it('removes a dropped DID\'s rows only with --yes, corrects the counts it fed, and keeps out its events after', { timeout: 60_000 }, async () => {
    const staysPost = write({ did: STAYS, collection: POST, rkey: '3kstayspost22', rev: 1, record: post('mine') });
    const gonePost = write({ did: GONE, collection: POST, rkey: '3kgonepost222', rev: 2, record: post('left out later') });
    await indexBatch([
      staysPost,
      gonePost,
      write({ did: GONE, collection: 'app.bsky.feed.like', rkey: '3kgonelike222', rev: 3, record: like(uriOf(STAYS, POST, '3kstayspost22'), staysPost.cid) }),
      write({ did: GONE, collection: 'app.bsky.graph.follow', rkey: '3kgonefollow2', rev: 4, record: follow(STAYS) }),
      write({ did: STAYS, collection: 'app.bsky.feed.like', rkey: '3kstayslike22', rev: 5, record: like(uriOf(GONE, POST, '3kgonepost222'), gonePost.cid) }),
    ], db.ports);
    const staysUri = uriOf(STAYS, POST, '3kstayspost22');
    expect(await count(`post_agg where uri = $1 and "likeCount" = 1`, [staysUri])).toBe(1);
    expect(await count(`profile_agg where did = $1 and "followersCount" = 1`, [STAYS])).toBe(1);

    // Not a DID, or a DID the filters keep: refused, exit 2, nothing touched.
    expect(cli(['forget', 'not-a-did'])).toMatchObject({ code: 2, lines: [{ error: 'usage' }] });
    expect(cli(['forget', STAYS])).toMatchObject({ code: 2, lines: [{ error: 'kept', did: STAYS }] });
    expect(cli(['forget', GONE], { INGESTER_EXCLUDE_DIDS: '' })).toMatchObject({ code: 2, lines: [{ error: 'kept' }] });
    // Without --yes: what it would remove, and nothing removed.
    expect(cli(['forget', GONE])).toMatchObject({ code: 2, lines: [{ did: GONE, records: 3, repoSync: null }] });
    expect(await count(`record where did = $1`, [GONE])).toBe(3);

    const forgot = cli(['forget', GONE, '--yes']);
    expect(forgot, forgot.stderr).toMatchObject({ code: 0, lines: [{ did: GONE, forgotten: true, records: 3 }] });
    for (const [table, column] of [['record', 'did'], ['post', 'creator'], ['like', 'creator'], ['follow', 'creator'], ['actor', 'did']]) {
      expect(await count(`"${table}" where ${column} = $1`, [GONE]), table).toBe(0);
    }
    // What its records fed on the other account's rows is taken back; the other account's own like of its post goes
    // on existing as a record (the AppView's deletion leaves other accounts' rows of it too).
    expect(await count(`post_agg where uri = $1 and "likeCount" <> 0`, [staysUri])).toBe(0);
    expect(await count(`profile_agg where did = $1 and "followersCount" <> 0`, [STAYS])).toBe(0);
    expect(await count(`record where did = $1`, [STAYS])).toBe(2);
    expect(await count(`repo_sync where did = $1 and status = 'deleted' and reason = 'Forgotten'`, [GONE])).toBe(1);

    // An event of it written to a stream before the filter changed, indexed now: kept out by the marker.
    await indexBatch([write({ did: GONE, collection: POST, rkey: '3kgonepost333', rev: 6, record: post('in flight') })], db.ports);
    expect(await count(`record where did = $1`, [GONE])).toBe(0);

    // Again: nothing left to remove.
    expect(cli(['forget', GONE])).toMatchObject({ code: 2, lines: [{ did: GONE, records: 0, repoSync: 'deleted' }] });
    expect(cli(['forget', GONE, '--yes'])).toMatchObject({ code: 0, lines: [{ did: GONE, forgotten: true, records: 0 }] });
  });
});
