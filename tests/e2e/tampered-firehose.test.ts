// Issue 4's live-sync checks end to end: a real PDS and PLC, a relay in between that forges and tampers with one
// account's commits (re-signed by a stranger's key, wrong prevData, an altered record block, a dropped commit, an old
// commit replayed). Each is rejected and counted, the account is queued and resynced, and the index ends equal to the
// PDS's truth with the repo synchronized.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostKey } from '../../adapters/redis/keys.ts';
import { startFullPipeline } from '../helpers/full-pipeline.ts';
import { startDevNetwork, type DevNetwork, type DevUser } from '../helpers/dev-network.ts';
import { createIndexDb, type IndexDb } from '../helpers/index-db.ts';
import { createTestRedis } from '../helpers/services.ts';
import { readTruth } from '../helpers/pds-truth.ts';
import { readIndex } from '../helpers/read-index.ts';
import { startTamperRelay } from '../../long-runners/dev/tamper-relay.ts';

let network: DevNetwork;
let db: IndexDb;
let redisPrefix: string;
let cleanupRedis: () => Promise<void>;

beforeAll(async () => {
  [network, db] = await Promise.all([startDevNetwork(), createIndexDb('e2e_tamper')]);
  ({ prefix: redisPrefix, cleanup: cleanupRedis } = await createTestRedis('e2e_tamper'));
}, 120_000);
afterAll(async () => {
  await Promise.all([network?.close(), db?.close(), cleanupRedis?.()]);
});

describe('e2e: tampered commits are rejected, counted, and repaired by a resync', () => {
  it('ends with the index equal to the PDS truth and the repo synchronized', async () => {
    const target: DevUser = await network.createUser('tess');
    const bystander: DevUser = await network.createUser('ulf');
    const relay = await startTamperRelay(network.pdsUrl, target.did, ['bad_signature', 'bad_prev_data', 'bad_record', 'drop', 'replay']);
    // `skytide run --only firehose,index,backfill` subscribed to the tampering relay; repairs fetch from the PDS.
    const pipeline = startFullPipeline({ redisKeyPrefix: redisPrefix, databaseUrl: db.url, host: relay.host, plcUrl: network.plcUrl, handleResolverUrl: network.pdsUrl, initialCursor: 0 });
    try {
      for (let i = 1; i <= 6; i++) await target.agent.post({ text: `post ${i}`, createdAt: new Date().toISOString() });
      await bystander.agent.post({ text: 'untouched', createdAt: new Date().toISOString() });
      await pipeline.settle(relay.seqFor(await network.latestSeq()));
      expect(relay.applied).toEqual(['bad_signature', 'bad_prev_data', 'bad_record', 'drop', 'replay']);

      const metrics = await pipeline.resources.metrics.registry.metrics();
      const count = (reason: string) => Number(metrics.split('\n').find((l) => l.startsWith(`skytide_firehose_errors_total{host="${hostKey(relay.host)}",reason="${reason}"}`))?.split(' ').at(-1));
      expect(count('bad_signature')).toBe(1);
      expect(count('invalid_mst')).toBe(1); // the wrong prevData: inverting the ops does not give it
      expect(count('cid_mismatch')).toBe(1);
      expect(count('stale_rev')).toBe(1); // the replayed commit
      expect(count('prev_data_mismatch')).toBeGreaterThanOrEqual(1); // the commit after the dropped one

      expect(await readIndex(db.sql, [target.did, bystander.did])).toEqual(await readTruth([target, bystander]));
      expect(await db.sql.query(`select status from repo_sync where did = $1`, [target.did])).toEqual([{ status: 'synchronized' }]);
    } finally {
      await pipeline.stop();
      await relay.close();
    }
  }, 90_000);
});
