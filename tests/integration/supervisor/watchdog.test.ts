// The supervisor's watchdog (SKYTIDE_TASK_STUCK_MS) with real supervised loops on the real Redis and Postgres: a
// stream consumer whose batch waits on a lock never released neither returns nor throws, so only the watchdog finds
// it (named, with its silence; counted; the others stopped; exit 1); while a consumer waiting out an outage for three
// times the limit, and a subscription paused by backpressure as long, beat and are left alone.
import { EventEmitter } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import type { Redis } from 'ioredis';
import { supervise, type ProcessLike, type Task } from '../../../long-runners/supervisor.ts';
import { runStreamConsumer } from '../../../long-runners/consumer/stream-consumer.ts';
import { entriesHandler, runSubscription } from '../../../long-runners/subscription/subscription.ts';
import { startFakeRelay, type FakeRelay } from '../../../long-runners/dev/fake-relay.ts';
import { createKeySpace, hostKey, type KeySpace } from '../../../adapters/redis/keys.ts';
import { createLogger } from '../../../adapters/observability/logger.ts';
import { DependencyError } from '../../../functions/errors.ts';
import { noMetrics } from '../../../functions/ports.ts';
import { ok, type ItemOutcome } from '../../../functions/result.ts';
import { createTestRedis, createTestSchema } from '../../helpers/services.ts';
import { encodeFrame } from '../../helpers/frames.ts';
import { waitFor } from '../../helpers/wait.ts';

/** Short enough for a test; production's default is 10 minutes. */
const STUCK_AFTER_MS = 1500;

let redis: Redis;
let prefix: string;
let cleanupRedis: () => Promise<void>;
let keys: KeySpace;
let db: { url: string; drop: () => Promise<void> };
let sql: postgres.Sql;
let relay: FakeRelay;
/** Lets go of the test's lock: in afterAll too, should the test end without it (a supervisor that never returns). */
let unlock: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ redis, prefix, cleanup: cleanupRedis } = await createTestRedis('watchdog'));
  keys = createKeySpace(prefix);
  db = await createTestSchema('watchdog');
  sql = postgres(db.url, { max: 4, onnotice: () => {} });
  await sql`create table account (did text primary key)`;
  relay = await startFakeRelay();
});
afterAll(async () => {
  await unlock?.();
  await relay?.close();
  await sql?.end({ timeout: 1 });
  await db?.drop();
  await cleanupRedis?.();
});

function harness() {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level: 'info', component: 'test', write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) });
  const proc = new EventEmitter() as EventEmitter & ProcessLike;
  return { lines, log, proc };
}

/** A consumer of `stream` as `skytide run` supervises one: its beat passed through, entries parsed as JSON. */
function consumerTask(name: string, stream: string, handle: (items: unknown[]) => Promise<ItemOutcome[]>, log: ReturnType<typeof harness>['log']): Task {
  return {
    name,
    run: (signal, beat) =>
      runStreamConsumer<unknown>({
        redis, keys, stream, group: 'watchdog_group', consumer: name, batchSize: 10, blockMs: 100, claimIdleMs: 60_000, maxAttempts: 3,
        parse: (fields) => ({ ok: true, value: JSON.parse(fields['event'] ?? 'null') as unknown }),
        backoff: { baseMs: 50, maxMs: 200 }, handle, log: log.child(name), metrics: noMetrics, signal, beat,
      }),
  };
}

describe('the supervisor watchdog', () => {
  it('finds a consumer whose batch waits on a lock never released: logs it with its silence, reports it, stops the rest, exits 1', async () => {
    const { lines, log, proc } = harness();
    await redis.xadd(keys.stream('locked_live'), '*', 'event', JSON.stringify({ did: 'did:plc:locked' }));
    // Another session holds the table's lock and never lets go while the test runs.
    const holder = await sql.reserve();
    await holder`begin`;
    await holder`lock table account in access exclusive mode`;
    unlock = async () => {
      unlock = undefined;
      await holder`rollback`;
      holder.release();
    };
    const stuck: { task: string; silentMs: number }[] = [];
    try {
      const code = await supervise(
        [
          consumerTask('index:locked', 'locked_live', async (items) => {
            await sql`insert into account (did) values (${'did:plc:locked'}) on conflict do nothing`;
            return items.map(() => ok);
          }, log),
          // Idle beside it: its empty reads beat, so it is never the one named.
          consumerTask('index:idle', 'idle_live', async (items) => items.map(() => ok), log),
        ],
        { log, process: proc, stuckAfterMs: STUCK_AFTER_MS, shutdownTimeoutMs: 500, onStuck: (task, silentMs) => stuck.push({ task, silentMs }) },
      );
      expect(code).toBe(1);
    } finally {
      await unlock?.();
    }
    expect(stuck).toHaveLength(1);
    expect(stuck[0]?.task).toBe('index:locked');
    expect(stuck[0]?.silentMs).toBeGreaterThanOrEqual(STUCK_AFTER_MS);
    const line = lines.find((l) => l['msg'] === 'task stuck');
    expect(line).toMatchObject({ level: 'error', task: 'index:locked', stuckAfterMs: STUCK_AFTER_MS });
    expect(line?.['silentMs']).toBeGreaterThanOrEqual(STUCK_AFTER_MS);
    expect(lines.filter((l) => l['msg'] === 'task stuck')).toHaveLength(1);
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'stopping all tasks', why: 'task index:locked stuck' }));
    // The hung task does not stop either: named when the shutdown times out, as any task that ignores the stop.
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'tasks did not stop in time', tasks: ['index:locked'] }));
  }, 20_000);

  it('leaves alone a consumer that waits out an outage three times as long as the limit: its waits beat', async () => {
    const { lines, log, proc } = harness();
    await redis.xadd(keys.stream('outage_live'), '*', 'event', JSON.stringify({ did: 'did:plc:outage' }));
    const backAt = Date.now() + 3 * STUCK_AFTER_MS;
    let handled = 0;
    const done = supervise(
      [
        consumerTask('index:outage', 'outage_live', async (items) => {
          if (Date.now() < backAt) throw new DependencyError('postgres', 'connect ECONNREFUSED 127.0.0.1:5432', {});
          handled += items.length;
          return items.map(() => ok);
        }, log),
      ],
      { log, process: proc, stuckAfterMs: STUCK_AFTER_MS, shutdownTimeoutMs: 2000 },
    );
    await waitFor(() => handled, (n) => n === 1, 'the entry handled once the outage ended', 15_000);
    expect(Date.now()).toBeGreaterThanOrEqual(backAt);
    proc.emit('SIGTERM');
    expect(await done).toBe(0);
    expect(lines.some((l) => l['msg'] === 'task stuck')).toBe(false);
  }, 20_000);

  it('leaves alone a subscription paused by backpressure three times as long as the limit: its checks beat', async () => {
    const { lines, log, proc } = harness();
    const stream = keys.stream('paused_live');
    const cursorKey = keys.cursor('paused_live', relay.host);
    // At its high-water mark already: the first batch written, the subscription stops reading.
    await redis.xadd(stream, '*', 'thing', 'waiting');
    relay.append(1, encodeFrame({ op: 1, t: '#thing' }, { seq: 1, value: 'a' }));
    const task: Task = {
      name: `subscription:${hostKey(relay.host)}`,
      run: (signal, beat) =>
        runSubscription(
          {
            redis, host: relay.host, nsid: 'com.atproto.sync.subscribeRepos', stream, cursorKey, highWaterMark: 1, batchSize: 1,
            batchTimeoutMs: 100, lengthCheckIntervalMs: 200, initialCursor: 0, maxFrameBytes: 1024, log: log.child('subscription'),
            metrics: noMetrics, signal, beat, counters: { frames: 'skytide_firehose_frames_total', errors: 'skytide_firehose_errors_total' },
          },
          entriesHandler((m) => [{ stream, fields: { thing: String(m.body['value']) } }]),
        ),
    };
    const done = supervise([task], { log, process: proc, stuckAfterMs: STUCK_AFTER_MS, shutdownTimeoutMs: 2000 });
    await waitFor(() => lines, (l) => l.some((line) => line['msg'] === 'subscription paused'), 'the pause');
    await new Promise((r) => setTimeout(r, 3 * STUCK_AFTER_MS));
    expect(lines.some((l) => l['msg'] === 'subscription resumed')).toBe(false);
    // The consumers catch up: it reads again.
    await redis.del(stream);
    await waitFor(() => lines, (l) => l.some((line) => line['msg'] === 'subscription resumed'), 'the resume');
    proc.emit('SIGTERM');
    expect(await done).toBe(0);
    expect(lines.some((l) => l['msg'] === 'task stuck')).toBe(false);
    expect(await redis.get(cursorKey)).toBe('1');
  }, 20_000);
});
