// Kill -9 the real `skytide run --only firehose` process mid-stream, start it again, and check that firehose_live
// holds every event exactly once, in order: the cursor is written in the same MULTI as the events, so a kill can
// neither lose an event behind the cursor nor write one twice.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createTestRedis, TEST_REDIS_URL } from '../helpers/services.ts';
import { startFakeRelay, type FakeRelay } from '../../long-runners/dev/fake-relay.ts';
import { buildCommitFrame } from '../helpers/frames.ts';
import { waitFor } from '../helpers/wait.ts';
import { tid } from '../helpers/events.ts';
import { createKeySpace } from '../../adapters/redis/keys.ts';

const CLI = new URL('../../long-runners/cli/main.ts', import.meta.url).pathname;
const TOTAL = 3000;
const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';

let redis: Redis;
let prefix: string;
let cleanup: () => Promise<void>;
let relay: FakeRelay;

beforeAll(async () => {
  ({ redis, prefix, cleanup } = await createTestRedis('sigkill'));
  relay = await startFakeRelay();
});
afterAll(async () => {
  await relay.close();
  await cleanup();
});

function startAdapter(): ChildProcess {
  return spawn(process.execPath, [CLI, 'run', '--only', 'firehose'], {
    env: {
      PATH: process.env['PATH'] ?? '', REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: prefix, INGESTER_RELAY_HOSTS: relay.host,
      FIREHOSE_INITIAL_CURSOR: '0', INGESTER_BATCH_SIZE: '25', INGESTER_BATCH_TIMEOUT_MS: '20', LOG_LEVEL: 'error',
      // The test's commits are unsigned: this run is about delivery, not verification.
      INGESTER_TRUST_UPSTREAM: 'true',
      // Every `run` process serves /health on HTTP_PORT: any free port, so parallel suites never collide.
      HTTP_PORT: '0',
    },
    stdio: 'ignore',
  });
}

describe('chaos: SIGKILL the firehose adapter mid-stream', () => {
  it('loses no event and duplicates none across the kill and restart', async () => {
    const keys = createKeySpace(prefix);
    const cursorKey = keys.cursor('firehose_live', relay.host);
    const cursor = async () => Number((await redis.get(cursorKey)) ?? 0);
    const frames: Uint8Array[] = [];
    for (let seq = 1; seq <= TOTAL; seq++) {
      const rev = tid(seq);
      frames.push((await buildCommitFrame({ seq, did: DID, rev, ops: [{ action: 'create', collection: 'app.bsky.feed.post', rkey: rev, record: { $type: 'app.bsky.feed.post', text: `#${seq}`, createdAt: '2026-01-01T00:00:00.000Z' } }] })).frame);
    }
    // Upstream keeps producing while the adapter runs, is killed and comes back.
    let next = 0;
    const producer = setInterval(() => {
      for (let i = 0; i < 60 && next < TOTAL; i++, next++) relay.append(next + 1, frames[next]!);
      if (next >= TOTAL) clearInterval(producer);
    }, 20);

    const first = startAdapter();
    await waitFor(cursor, (c) => c >= 600, 'first run past seq 600', 30_000);
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    const killedAt = await cursor();
    expect(killedAt).toBeLessThan(TOTAL);

    const second = startAdapter();
    await waitFor(cursor, (c) => c === TOTAL, `cursor ${TOTAL}`, 60_000);
    second.kill('SIGTERM');
    const code = await new Promise((r) => second.once('exit', r));
    expect(code).toBe(0);
    expect(relay.cursors.slice(-1)[0]).toBe(String(killedAt));

    const seqs = (await redis.xrange(keys.stream('firehose_live'), '-', '+')).map(([, f]) => JSON.parse(f[1] ?? '').seq as number);
    expect(seqs).toHaveLength(TOTAL);
    expect(seqs).toEqual(Array.from({ length: TOTAL }, (_, i) => i + 1));
  }, 120_000);
});
