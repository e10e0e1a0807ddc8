// Identity waits left in the real Redis under a relay removed from INGESTER_RELAY_HOSTS: the firehose adapter's start
// finds them (one shard and several), logs each host at error with its DIDs and parked frames, counts the DIDs in
// skytide_identity_waits_unconfigured_total, and changes nothing; a configured host's waits are not reported.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createKeySpace, STREAMS, type KeySpace } from '../../../adapters/redis/keys.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { reportUnconfiguredWaits } from '../../../long-runners/firehose/unconfigured-waits.ts';
import type { Log, LogFields } from '../../../functions/ports.ts';
import { createTestRedis } from '../../helpers/services.ts';

let redis: Redis;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ redis, cleanup } = await createTestRedis('unconfigured_waits')));
afterAll(async () => cleanup());

function capturingLog(lines: { level: string; msg: string; fields?: LogFields }[]): Log {
  const log: Log = {
    debug: (msg, fields) => void lines.push({ level: 'debug', msg, ...(fields === undefined ? {} : { fields }) }),
    info: (msg, fields) => void lines.push({ level: 'info', msg, ...(fields === undefined ? {} : { fields }) }),
    warn: (msg, fields) => void lines.push({ level: 'warn', msg, ...(fields === undefined ? {} : { fields }) }),
    error: (msg, fields) => void lines.push({ level: 'error', msg, ...(fields === undefined ? {} : { fields }) }),
    child: () => log,
  };
  return log;
}

/** Parks `frames` frames for each DID on `host`, as the firehose adapter writes them (identity-waits.ts). */
async function park(keys: KeySpace, host: string, dids: string[], frames: number): Promise<void> {
  for (const did of dids) {
    const shard = keys.shardFor(STREAMS.firehoseLive, did);
    await redis.hset(keys.waiting(shard, host), did, JSON.stringify({ since: 1, on: 'plc' }));
    for (let i = 0; i < frames; i++) await redis.rpush(keys.parked(shard, host, did), Buffer.from([i]));
  }
}

describe.each([1, 4])('identity waits of a relay no longer configured (%i shards)', (shards) => {
  it('are logged at error with host and counts, counted from zero, and left as they are', async () => {
    const keys = createKeySpace(`${Math.random().toString(36).slice(2)}:`, { shards });
    const dids = Array.from({ length: 5 }, (_, i) => `did:plc:unconfigured${String(i).padStart(4, 'a')}`);
    await park(keys, 'relay.kept', [dids[0]!], 2);
    await park(keys, 'old-relay.example:2470', dids.slice(1), 3);
    const lines: { level: string; msg: string; fields?: LogFields }[] = [];
    const bundle = createMetrics({ hosts: ['relay.kept'], streams: [] });
    const counter = async () => (await bundle.registry.getSingleMetric('skytide_identity_waits_unconfigured_total')!.get()).values[0]?.value;
    expect(await counter()).toBe(0);
    const found = await reportUnconfiguredWaits({ redis, keys, hosts: ['https://relay.kept/'], log: capturingLog(lines), metrics: bundle.metrics });
    expect(found).toEqual([{ host: 'old-relay.example:2470', dids: 4, frames: 12 }]);
    expect(lines.filter((l) => l.level === 'error')).toEqual([
      { level: 'error', msg: 'identity waits parked under a relay that is no longer configured', fields: expect.objectContaining({ host: 'old-relay.example:2470', dids: 4, frames: 12 }) },
    ]);
    expect(await counter()).toBe(4);
    // Nothing changed: every frame still parked.
    for (const did of dids.slice(1)) expect(await redis.llen(keys.parked(keys.shardFor(STREAMS.firehoseLive, did), 'old-relay.example:2470', did))).toBe(3);
  });
});
