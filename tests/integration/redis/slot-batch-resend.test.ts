// A batch split by hash slot (STREAM_SHARDS > 1, a Redis Cluster) is one write per slot, side by side: Redis may take
// one slot's part and refuse the next (out of memory here; on a Cluster, one node full or failing over). The
// subscription then waits the refusal out and flushes the same batch again; the part that landed must not run again:
// its entries would be written twice, and a release of parked frames (LTRIM by count) would trim frames never written.
// On a redis-server of the file's own, with maxmemory 1 MB above its use: the first part (a few bytes) fits, the second
// (a 3 MB entry, read into memory before it runs) puts Redis over it and is refused, every run. Each test writes
// through a connection of its own, whose query buffer no earlier big write has grown.
import { describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createBatch } from '../../../long-runners/subscription/batch.ts';
import { createIdentityWaitStore } from '../../../adapters/redis/identity-waits.ts';
import { STREAMS, createKeySpace } from '../../../adapters/redis/keys.ts';
import { writeBatch } from '../../../adapters/redis/stream-writer.ts';
import { writeRefusal } from '../../../adapters/redis/write-refusal.ts';
import { useFullableRedis } from '../../helpers/fullable-redis.ts';

const own = useFullableRedis();
const HOST = 'relay.example';
const MB = 1 << 20;
const BIG = 'x'.repeat(3 * MB);

/** Runs `flush` once with maxmemory 1 MB above Redis's use, asserts a refusal, then lifts maxmemory. */
async function refusedOnce(flush: () => Promise<unknown>): Promise<void> {
  const used = Number(/used_memory:(\d+)/.exec(await own.redis.info('memory'))?.[1]);
  await own.redis.config('SET', 'maxmemory', String(used + MB));
  const err = await flush().then(() => undefined, (e: unknown) => e);
  await own.redis.config('SET', 'maxmemory', '0');
  expect(writeRefusal(err)).toMatch(/^OOM/);
}

async function withWriter(test: (writer: Redis) => Promise<void>): Promise<void> {
  const writer = new Redis(own.server.url);
  try {
    await test(writer);
  } finally {
    writer.disconnect();
  }
}

describe('a slot-split batch that Redis refused in part, sent again', () => {
  it('writes each entry once: the slot that landed answers ran-before, only the refused one is written', () => withWriter(async (writer) => {
    const keys = createKeySpace('seq:', { shards: 2 });
    const [s0, s1] = keys.shardsOf(STREAMS.firehoseLive).map((n) => keys.stream(n)) as [string, string];
    const cursorKeys = keys.shardsOf(STREAMS.firehoseLive).map((n) => keys.cursor(n, HOST));
    const warm = createBatch();
    warm.append({ stream: s0, fields: { event: 'seq1-a' } });
    warm.append({ stream: s1, fields: { event: 'seq1-b' } });
    warm.seq = 1;
    await warm.flush(writer, cursorKeys, true);

    const batch = createBatch();
    let written = 0;
    batch.append({ stream: s0, fields: { event: 'seq2-a', } }, () => written++);
    batch.append({ stream: s1, fields: { event: 'seq2-b', pad: BIG } }, () => written++);
    batch.seq = 2;
    await refusedOnce(() => batch.flush(writer, cursorKeys, true));
    // Shard 0's part landed with its cursor, shard 1's was refused whole.
    expect([await own.redis.xlen(s0), await own.redis.xlen(s1)]).toEqual([2, 1]);
    expect(await own.redis.mget(...cursorKeys)).toEqual(['2', '1']);
    expect(written).toBe(0);

    // As the subscription's waitOut does once Redis takes writes again: the same batch, flushed again.
    expect(await batch.flush(writer, cursorKeys, true)).toBe(2);
    const events = async (s: string) => (await own.redis.xrange(s, '-', '+')).map(([, f]) => f[1]);
    expect(await events(s0)).toEqual(['seq1-a', 'seq2-a']);
    expect(await events(s1)).toEqual(['seq1-b', 'seq2-b']);
    expect(await own.redis.mget(...cursorKeys)).toEqual(['2', '2']);
    expect(written).toBe(2);
  }));

  it('releases parked frames once: the slot that landed trims nothing more, no frame is lost', () => withWriter(async (writer) => {
    const keys = createKeySpace('park:', { shards: 2 });
    const store = createIdentityWaitStore(own.redis, keys, HOST);
    const didOf = (shard: number) => {
      for (let i = 0; ; i++) if (keys.shardOf(`did:plc:test${i}`) === shard) return `did:plc:test${i}`;
    };
    const dids = [didOf(0), didOf(1)];
    const shardOf = (did: string) => keys.shardFor(STREAMS.firehoseLive, did);
    const events = (did: string) => keys.stream(shardOf(did));
    const parked = (did: string) => keys.parked(shardOf(did), HOST, did);
    const cursorKeys = keys.shardsOf(STREAMS.firehoseLive).map((n) => keys.cursor(n, HOST));
    for (const did of dids) {
      await writeBatch(writer, {
        ops: [store.startOp(did, { since: Date.now(), on: 'plc' }), ...[1, 2, 3, 4].map((n) => store.parkOp(did, new TextEncoder().encode(`frame${n}`)))],
      });
    }
    // A release for a DID with nothing parked first, so the release's script is cached: both parts run it, not one
    // EVALSHA each answered NOSCRIPT and then sent again as EVAL after the 3 MB one grew Redis's memory.
    await writeBatch(writer, { ops: [store.releaseOp('did:plc:nothingparked', 1, new TextEncoder().encode('frame1'), () => {})] });
    // A release of each DID's 2 oldest frames, between batches (no seq): their event, then RELEASE_PARKED.
    const batch = createBatch();
    const lefts: string[] = [];
    dids.forEach((did, i) => {
      batch.append({ stream: events(did), fields: { event: `${did} frames 1-2`, ...(i === 0 ? {} : { pad: BIG }) } });
      batch.add(store.releaseOp(did, 2, new TextEncoder().encode('frame1'), (left) => lefts.push(`${did} ${left}`)));
    });
    await refusedOnce(() => batch.flush(writer, cursorKeys, true));
    expect([await own.redis.llen(parked(dids[0]!)), await own.redis.llen(parked(dids[1]!))]).toEqual([2, 4]);

    await batch.flush(writer, cursorKeys, true);
    for (const did of dids) {
      expect(await own.redis.xlen(events(did))).toBe(1);
      expect(await own.redis.lrange(parked(did), 0, -1)).toEqual(['frame3', 'frame4']);
    }
    expect(lefts.sort()).toEqual(dids.map((did) => `${did} 2`).sort());
  }));
});
