// One firehose adapter per relay, however many run (an overlapping deploy, two replicas): each holds the relay's lease
// (`firehose_live:lease:<host>`, subscription.ts) before it connects. Against a real Redis and a fake relay: the second
// waits and writes nothing; a stop (release) or a holder whose Redis is gone (expiry) lets it take over from the
// cursor; a stale holder's batch is refused by the lease guard, nothing written; and two releases of one DID's parked
// frames (as two adapters made them) no longer trim frames parked since, never written (RELEASE_PARKED checks the head).
import { describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { useFirehoseHarness } from '../../helpers/firehose-harness.ts';
import { buildCommitFrame } from '../../helpers/frames.ts';
import { waitFor } from '../../helpers/wait.ts';
import { tid } from '../../helpers/events.ts';
import { TEST_REDIS_URL } from '../../helpers/services.ts';
import { startTcpProxy } from '../../helpers/tcp-proxy.ts';
import { STREAMS } from '../../../adapters/redis/keys.ts';
import { createIdentityWaitStore } from '../../../adapters/redis/identity-waits.ts';
import { createIdentityWaitRoom, type ReleaseFrames } from '../../../long-runners/firehose/identity-wait.ts';
import { createBatch } from '../../../long-runners/subscription/batch.ts';
import { noMetrics, silentLog } from '../../../functions/ports.ts';

const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';
const POST = { $type: 'app.bsky.feed.post', text: 'hi', createdAt: '2026-01-01T00:00:00.000Z' };
const rev = (n: number) => tid(Date.parse('2026-01-01T00:00:00.000Z') * 1000 + n);

const h = useFirehoseHarness('subscription_lease');

const append = async (from: number, to: number) => {
  for (let seq = from; seq <= to; seq++) {
    const { frame } = await buildCommitFrame({ seq, did: DID, rev: rev(seq), ops: [{ action: 'create', collection: 'app.bsky.feed.post', rkey: `k${seq}`, record: POST }] });
    h.relay.append(seq, frame);
  }
};
const rkeys = async () => (await h.events()).map((e) => e.rkey as string);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `k${from + i}`);

/** An adapter under the relay's lease, named `holder`; `waits` hears who holds the lease while it waits. */
function adapter(holder: string, ttlMs: number, extra: { redis?: Redis } = {}) {
  const waits: (string | null | undefined)[] = [];
  const run = h.start({ ...extra, batchSize: 1, lease: { holder, ttlMs, onWait: (by) => waits.push(by) } });
  return { run, waits };
}

describe('the relay lease: one firehose adapter per relay', () => {
  it('a second adapter waits and writes nothing; a stop hands the relay over, and it resumes from the cursor', async () => {
    await append(1, 5);
    const a = adapter('process-a', 600);
    await waitFor(() => h.cursorSeq(), (c) => c === 5, 'A at seq 5');
    const b = adapter('process-b', 600);
    await waitFor(() => b.waits, (w) => w.includes('process-a'), 'B waiting on A');
    await append(6, 8);
    await waitFor(() => h.cursorSeq(), (c) => c === 8, 'A at seq 8');
    // B never connected: one connection, every event once.
    expect(h.relay.cursors).toEqual(['0']);
    expect(await rkeys()).toEqual(range(1, 8));

    await a.run.stop();
    await waitFor(() => h.relay.cursors, (c) => c.length === 2, 'B connected');
    expect(h.relay.cursors[1]).toBe('8');
    await append(9, 10);
    await waitFor(() => h.cursorSeq(), (c) => c === 10, 'B at seq 10');
    expect(await rkeys()).toEqual(range(1, 10));
    expect(b.waits.at(-1)).toBeUndefined();
  });

  it('a holder that stops answering (paused, its Redis cut off) loses its lease; the other takes over from the cursor, and the stale batch lands nowhere', async () => {
    await append(1, 3);
    const target = new URL(TEST_REDIS_URL);
    const proxy = await startTcpProxy({ target: { host: target.hostname, port: Number(target.port || 6379) } });
    const own = new Redis(`redis://127.0.0.1:${proxy.port}${target.pathname}`);
    try {
      const a = adapter('process-a', 600, { redis: own });
      await waitFor(() => h.cursorSeq(), (c) => c === 3, 'A at seq 3');
      const b = adapter('process-b', 600);
      await waitFor(() => b.waits, (w) => w.includes('process-a'), 'B waiting on A');
      // A's Redis stops answering (a paused VM, a dropped flow): nothing it sends arrives, its lease is not renewed.
      proxy.silence(true);
      // A reads 4-6 before its lease runs out; their batch waits in its connection.
      await append(4, 6);
      await waitFor(() => h.relay.cursors, (c) => c.length === 2, 'B connected');
      expect(h.relay.cursors[1]).toBe('3');
      await waitFor(() => h.cursorSeq(), (c) => c === 6, 'B at seq 6');
      // A's batch reaches Redis at last: the lease guard refuses it, nothing written twice.
      proxy.silence(false);
      await waitFor(() => a.run.errors('lease_lost'), (n) => n === 1, 'A counted its lease lost');
      expect(await rkeys()).toEqual(range(1, 6));
      expect(h.relay.cursors).toHaveLength(2);
      await a.run.stop();
    } finally {
      own.disconnect();
      await proxy.close();
    }
  });

  it('a stale holder (its lease taken while it paused) writes nothing: its batch is refused by the lease guard', async () => {
    await append(1, 3);
    // A renews rarely: it has not noticed yet that its lease moved on when its next batch goes out.
    const a = adapter('process-a', 60_000);
    await waitFor(() => h.cursorSeq(), (c) => c === 3, 'A at seq 3');
    // A's lease expires behind its back (a pause past its TTL) and B takes it.
    await h.redis.del(h.keys.lease(STREAMS.firehoseLive, h.relay.host));
    const b = adapter('process-b', 60_000);
    await waitFor(() => h.relay.cursors, (c) => c.length === 2, 'B connected');
    await append(4, 6);
    await waitFor(() => h.cursorSeq(), (c) => c === 6, 'B at seq 6');
    await waitFor(() => a.run.errors('lease_lost'), (n) => n === 1, 'A refused');
    // Both read 4-6; only B's batches landed.
    expect(await rkeys()).toEqual(range(1, 6));
    expect(await b.run.errors('lease_lost')).toBe(0);
    // A waits for the lease again, connected no more.
    await append(7, 7);
    await waitFor(() => h.cursorSeq(), (c) => c === 7, 'B at seq 7');
    expect(await rkeys()).toEqual(range(1, 7));
    expect(h.relay.cursors).toHaveLength(2);
  });

  it('two releases of the same parked head (two adapters for one relay) trim nothing parked since', async () => {
    const keys = h.keys;
    const host = 'relay.test';
    const did = 'did:plc:waiting';
    const stream = keys.stream(STREAMS.firehoseLive);
    const cursorKey = keys.cursor(STREAMS.firehoseLive, host);
    const parked = keys.parked(STREAMS.firehoseLive, host, did);
    const enc = (s: string) => new TextEncoder().encode(s);
    const room = () => createIdentityWaitRoom({
      store: createIdentityWaitStore(h.redis, keys, host),
      identity: { resolve: async () => ({}) as never },
      didWaitMs: 3_600_000, maxParkedFrames: 1000, retry: { baseMs: 0, maxMs: 0 },
      onOverflow: () => {}, host, hostLabel: host, log: silentLog, metrics: noMetrics,
    });
    const release: ReleaseFrames = async (_did, frames, batch) => {
      for (const f of frames) batch.append({ stream, fields: { event: new TextDecoder().decode(f) } });
      return { released: frames.length };
    };
    // A parks 11 and 12 while the PLC is down; B starts and loads the waits; both hear the PLC answer.
    const a = room();
    const first = createBatch();
    a.park(did, enc('frame-11'), first, 'plc');
    a.park(did, enc('frame-12'), first, 'plc');
    first.seq = 12;
    await first.flush(h.redis, cursorKey);
    const b = room();
    await b.load();
    for (const r of [a, b]) await r.step(createBatch(), release);
    await waitFor(async () => {
      // Each step looks the DID up; once both lookups settled, the next step of each reads the head [11, 12].
      const batchA = createBatch();
      const batchB = createBatch();
      await a.step(batchA, release);
      await b.step(batchB, release);
      if (batchA.size === 0 || batchB.size === 0) return false;
      await batchB.flush(h.redis, cursorKey);
      // 13 and 14 come in and are parked behind (A's loop still has the DID waiting).
      const next = createBatch();
      a.park(did, enc('frame-13'), next);
      a.park(did, enc('frame-14'), next);
      next.seq = 14;
      await next.flush(h.redis, cursorKey);
      // A's release of what it read (11, 12) lands last: it must not trim 13 and 14.
      await batchA.flush(h.redis, cursorKey);
      return true;
    }, (done) => done, 'both rooms releasing');
    // Its trim refused (the head is 13 now), 13 and 14 stay parked; 11 and 12 were written twice (what two writers
    // do, and what the lease keeps from happening), but nothing parked is lost.
    expect(await h.redis.lrange(parked, 0, -1)).toEqual(['frame-13', 'frame-14']);
    expect((await h.redis.xrange(stream, '-', '+')).map(([, f]) => f[1])).toEqual(['frame-11', 'frame-12', 'frame-11', 'frame-12']);
  });
});
