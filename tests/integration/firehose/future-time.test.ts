// An event's `time` orders its account's status changes and dates its records, so the firehose adapter never lets an
// upstream clock date one later than when it arrived plus the allowed drift: such an event is kept, dated when it was
// received, and counted (`future_time`). Without that, one `#account` dated in the year 9999 outranked every later
// change of its account: a relay's takedown after it was stale, and the account stayed active in the index.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { runFirehoseIngester } from '../../../long-runners/firehose/firehose-ingester.ts';
import { createKeySpace, hostKey, type KeySpace } from '../../../adapters/redis/keys.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { silentLog } from '../../../functions/ports.ts';
import { parseStreamEvent, type StreamEvent } from '../../../functions/events.ts';
import { indexBatch } from '../../../functions/index/handler.ts';
import { checkRows } from '../../../functions/sql-rows.ts';
import { createTestRedis } from '../../helpers/services.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { startFakeRelay, type FakeRelay } from '../../../long-runners/dev/fake-relay.ts';
import { accountFrame, buildCommitFrame, identityFrame } from '../../helpers/frames.ts';
import { waitFor } from '../../helpers/wait.ts';
import { tid } from '../../helpers/events.ts';

const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';
const POST = { $type: 'app.bsky.feed.post', text: 'hi', createdAt: '2026-01-01T00:00:00.000Z' };

let redis: Redis;
let cleanup: () => Promise<void>;
let db: IndexDb;
let keys: KeySpace;
let relay: FakeRelay;
let stop: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ redis, cleanup } = await createTestRedis('future_time'));
  db = await createIndexDb('future_time');
});
afterAll(async () => {
  await cleanup();
  await db.close();
});
beforeEach(async () => {
  keys = createKeySpace(`${Math.random().toString(36).slice(2)}:`);
  relay = await startFakeRelay();
});
afterEach(async () => {
  await stop?.();
  stop = undefined;
  await relay.close();
});

describe('an event dated in the future', () => {
  it('is kept, dated when it was received, and counted, so a later takedown of its account still applies', async () => {
    const metrics = createMetrics({ hosts: [hostKey(relay.host)], streams: ['firehose_live'] });
    const before = new Date().toISOString();
    // A PDS whose clock is far ahead (or lies): its #account, #identity and commit are dated in the future.
    relay.append(1, accountFrame(1, DID, true, undefined, '9999-01-01T00:00:00.000Z'));
    relay.append(2, identityFrame(2, DID, 'alice.test', '+010000-01-01T00:00:00.000Z'));
    relay.append(3, (await buildCommitFrame({ seq: 3, did: DID, rev: tid(1), time: '9000-01-01T00:00:00.000Z', ops: [{ action: 'create', collection: 'app.bsky.feed.post', rkey: 'a', record: POST }] })).frame);
    // The relay's takedown, by its own clock (a little ahead of ours: within the allowed drift, kept as it is).
    const takedownAt = new Date(Date.now() + 60_000).toISOString();
    relay.append(4, accountFrame(4, DID, false, 'takendown', takedownAt));
    const controller = new AbortController();
    const done = runFirehoseIngester({
      redis, keys, host: relay.host, highWaterMark: 100_000, batchSize: 10, batchTimeoutMs: 20, initialCursor: 0,
      log: silentLog, metrics: metrics.metrics, signal: controller.signal, lengthCheckIntervalMs: 20,
      backoff: { baseMs: 10, maxMs: 50, healthyAfterMs: 10_000 },
    });
    stop = async () => {
      controller.abort();
      await done;
    };
    await waitFor(() => redis.get(keys.cursor('firehose_live', relay.host)), (c) => c === '4', 'cursor 4');
    const after = new Date().toISOString();

    const events = (await redis.xrange(keys.stream('firehose_live'), '-', '+')).map(([, f]) => {
      const parsed = parseStreamEvent(JSON.parse(f[1] ?? ''));
      if (!parsed.ok) throw new Error(parsed.message);
      return parsed.value;
    });
    expect(events.map((e) => e.type)).toEqual(['account', 'identity', 'create', 'account']);
    for (const e of events.slice(0, 3)) {
      expect(e.time >= before && e.time <= after, `${e.type} dated ${e.time}, received between ${before} and ${after}`).toBe(true);
    }
    expect(events[3]?.time).toBe(takedownAt);
    const line = (await metrics.registry.metrics()).split('\n').find((l) => l.startsWith(`skytide_firehose_errors_total{host="${hostKey(relay.host)}",reason="future_time"}`));
    expect(Number(line?.split(' ').at(-1))).toBe(3);

    // Indexed, the takedown is the account's last change: the far-future "active" no longer outranks it.
    await indexBatch(events as StreamEvent[], db.ports);
    const actor = checkRows(await db.sql.query(`select "upstreamStatus" as s from actor where did = $1`, [DID]), { s: 'string?' });
    expect(actor[0]?.s).toBe('takendown');
  });
});
