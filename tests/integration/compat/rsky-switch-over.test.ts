// Switching between rsky and skytide on one Redis (README.md, Contracts). rsky's Redis pipeline is the one before
// rsky-wintermute replaced it: blacksky-algorithms/rsky at f808570c (the parent of 197a9feb, which removed
// rsky-ingester, rsky-indexer and rsky-backfiller). Every entry below is built field by field as rsky writes it,
// from the paths cited; the other way, what skytide writes is read as rsky's consumers read it (helpers/rsky-serde.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../adapters/config/parse.ts';
import { createResources, type Resources } from '../../../long-runners/cli/resources.ts';
import { buildTasks } from '../../../long-runners/cli/tasks.ts';
import { GROUPS, STREAMS } from '../../../adapters/redis/keys.ts';
import { repoBackfillCodec } from '../../../adapters/queue/redis-work-queue.ts';
import { parseRepoFields } from '../../../long-runners/consumer/parse-repo-fields.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { createTestRedis } from '../../helpers/services.ts';
import { fakeCid, tid } from '../../helpers/events.ts';
import { waitFor } from '../../helpers/wait.ts';
import { rskyBackfillEvent, rskyStreamEvent } from '../../helpers/rsky-serde.ts';

const ALICE = 'did:plc:rskyswitchaliceaaaaaaaaa';
const BOB = 'did:plc:rskyswitchbobbbbbbbbbbbb';
const CAROL = 'did:plc:rskyswitchcarolccccccccc';
// chrono's DateTime<Utc>::to_rfc3339 (rsky-ingester/src/firehose.rs process_message, rsky-backfiller's process_repo).
const RSKY_TIME = '2026-01-02T03:04:05.123456789+00:00';

let db: IndexDb;
let redis: Awaited<ReturnType<typeof createTestRedis>>;
let r: Resources;
const controller = new AbortController();
let running: Promise<unknown>[] = [];

beforeAll(async () => {
  db = await createIndexDb('rsky_switch');
  redis = await createTestRedis('rsky_switch');
  const { config } = parseConfig({
    REDIS_KEY_PREFIX: redis.prefix, DATABASE_URL: db.url, INDEXER_STREAMS: `${STREAMS.firehoseLive},${STREAMS.firehoseBackfill}`,
    INDEXER_CONSUMER: 'rsky-switch', LOG_LEVEL: 'error',
  });
  r = createResources(config, 'rsky-switch-test');
  running = buildTasks(r, ['index']).map((t) => t.run(controller.signal));
});

afterAll(async () => {
  controller.abort();
  await Promise.allSettled(running);
  await r?.close();
  await redis?.cleanup();
  await db?.close();
});

const entries = async (name: string) =>
  (await redis.redis.xrange(r.keys.stream(name), '-', '+')).map(([, flat]) => Object.fromEntries(flat.flatMap((v, i) => (i % 2 === 0 ? [[v, flat[i + 1]!]] : []))) as Record<string, string>);
const drained = async (name: string) =>
  (await redis.redis.xlen(r.keys.stream(name))) + Number(((await redis.redis.xpending(r.keys.stream(name), GROUPS.firehose).catch(() => [0])) as [number])[0]);

describe('rsky -> skytide: entries rsky left in the streams', () => {
  it('indexes firehose_live and firehose_backfill entries as rsky wrote them', async () => {
    const post = { $type: 'app.bsky.feed.post', text: 'from rsky', createdAt: '2026-01-02T03:04:00.000Z' };
    const postCid = fakeCid('rsky-post');
    const postUri = `at://${ALICE}/app.bsky.feed.post/3l3qo2vuowo2a`;
    // rsky-ingester/src/lib.rs StreamEvent (serde tag `type` first, then the fields in order), written by
    // rsky-ingester/src/firehose.rs write_batch as XADD firehose_live * event <json>; records through its ipld_to_json
    // (links as {"$link"}), account statuses as AccountStatus's Debug name (rsky-lexicon/src/com/atproto/sync.rs).
    const live = [
      { type: 'create', seq: 10, time: RSKY_TIME, did: ALICE, commit: fakeCid('c1'), rev: tid(1), collection: 'app.bsky.feed.post', rkey: '3l3qo2vuowo2a', cid: postCid, record: post },
      { type: 'create', seq: 11, time: RSKY_TIME, did: BOB, commit: fakeCid('c2'), rev: tid(2), collection: 'app.bsky.feed.like', rkey: '3l3qo2vuowo2b', cid: fakeCid('like'), record: { $type: 'app.bsky.feed.like', subject: { uri: postUri, cid: postCid }, createdAt: '2026-01-02T03:04:01.000Z' } },
      { type: 'create', seq: 12, time: RSKY_TIME, did: BOB, commit: fakeCid('c3'), rev: tid(3), collection: 'app.bsky.graph.follow', rkey: '3l3qo2vuowo2c', cid: fakeCid('follow'), record: { $type: 'app.bsky.graph.follow', subject: ALICE, createdAt: '2026-01-02T03:04:02.000Z' } },
      { type: 'delete', seq: 13, time: RSKY_TIME, did: BOB, commit: fakeCid('c4'), rev: tid(4), collection: 'app.bsky.graph.follow', rkey: '3l3qo2vuowo2c' },
      { type: 'account', seq: 14, time: RSKY_TIME, did: CAROL, active: false, status: 'Takendown' },
    ];
    // rsky-backfiller/src/repo_backfiller.rs process_repo: one create per record with seq SEQ_BACKFILL (-1), then a
    // `repo` event, XADD firehose_backfill * event <json> (rsky-backfiller/src/lib.rs StreamEvent).
    const backfill = [
      { type: 'create', seq: -1, time: RSKY_TIME, did: CAROL, commit: fakeCid('c5'), rev: tid(5), collection: 'app.bsky.actor.profile', rkey: 'self', cid: fakeCid('profile'), record: { $type: 'app.bsky.actor.profile', displayName: 'Carol' } },
      { type: 'repo', seq: -1, time: RSKY_TIME, did: CAROL, commit: fakeCid('c5'), rev: tid(5) },
    ];
    const multi = redis.redis.multi();
    for (const e of live) multi.xadd(r.keys.stream(STREAMS.firehoseLive), '*', 'event', JSON.stringify(e));
    for (const e of backfill) multi.xadd(r.keys.stream(STREAMS.firehoseBackfill), '*', 'event', JSON.stringify(e));
    await multi.exec();
    await waitFor(async () => (await drained(STREAMS.firehoseLive)) + (await drained(STREAMS.firehoseBackfill)), (n) => n === 0, 'both streams consumed');
    expect(await redis.redis.xlen(r.keys.dlq(STREAMS.firehoseLive))).toBe(0);
    expect(await redis.redis.xlen(r.keys.dlq(STREAMS.firehoseBackfill))).toBe(0);
    expect(await db.sql.query(`select uri, text from post`)).toEqual([{ uri: postUri, text: 'from rsky' }]);
    expect(await db.sql.query(`select creator, "subject" from "like"`)).toEqual([{ creator: BOB, subject: postUri }]);
    expect(await db.sql.query(`select count(*)::int as n from follow`)).toEqual([{ n: 0 }]);
    expect(await db.sql.query(`select "displayName" from profile`)).toEqual([{ displayName: 'Carol' }]);
    expect(await db.sql.query(`select active, status from account_state where did = $1`, [CAROL])).toEqual([{ active: false, status: 'takendown' }]);
  });

  it('reads a repo_backfill entry as rsky wrote it', () => {
    // rsky-ingester/src/lib.rs BackfillEvent, written by rsky-ingester/src/backfill.rs write_batch as
    // XADD repo_backfill * repo <json>; host is "https://<relay>", status None serialized as null.
    const fields = { repo: JSON.stringify({ did: ALICE, host: 'https://bsky.network', rev: tid(7), status: null, active: true }) };
    expect(parseRepoFields(fields)).toEqual({ ok: true, value: { did: ALICE, host: 'https://bsky.network', rev: tid(7), active: true } });
  });
});

describe('skytide -> rsky: what skytide leaves in the streams, read as rsky reads it', () => {
  it('the index consumer: an #account asks for a resync rsky-backfiller can read', async () => {
    await redis.redis.xadd(r.keys.stream(STREAMS.firehoseLive), '*', 'event', JSON.stringify({ type: 'account', seq: 20, time: '2026-01-02T03:05:00.000Z', did: CAROL, active: true }));
    const queued = await waitFor(() => entries(STREAMS.repoBackfill), (e) => e.length > 0, 'the resync request');
    for (const fields of queued) expect(rskyBackfillEvent(fields)).toMatchObject({ did: CAROL });
    // And skytide still reads its own entry as it meant it: no rev, no host.
    expect(queued.map(parseRepoFields)).toEqual([{ ok: true, value: { did: CAROL, active: true, reason: 'account_active' } }]);
  });

  it('the work queue (handle_unverified follow-ups, retries) writes entries rsky-backfiller can read', () => {
    const fields = repoBackfillCodec.encode({ did: ALICE, reason: 'handle_unverified' });
    expect(rskyBackfillEvent(fields)).toMatchObject({ did: ALICE });
    expect(repoBackfillCodec.decode(fields)).toEqual({ did: ALICE, active: true, reason: 'handle_unverified' });
  });

  it('firehose_live entries skytide writes are rsky StreamEvents', () => {
    const written = [
      { type: 'create', seq: 1, time: '2026-01-02T03:05:00.000Z', did: ALICE, commit: fakeCid('c'), rev: tid(9), collection: 'app.bsky.feed.post', rkey: 'a', cid: fakeCid('p'), record: { $type: 'app.bsky.feed.post', text: 'x', createdAt: '2026-01-02T03:05:00.000Z' }, since: null },
      { type: 'delete', seq: 2, time: '2026-01-02T03:05:00.000Z', did: ALICE, commit: fakeCid('c'), rev: tid(10), collection: 'app.bsky.feed.post', rkey: 'a', since: tid(9) },
      { type: 'identity', seq: 3, time: '2026-01-02T03:05:00.000Z', did: ALICE },
    ];
    for (const e of written) expect(rskyStreamEvent({ event: JSON.stringify(e) })).toMatchObject({ type: e.type });
  });
});
