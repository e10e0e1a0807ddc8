// The firehose adapter end to end on this machine: frames from a relay on 127.0.0.1 (a WebSocket) through decoding,
// batching and the MULTI into a real Redis, until the cursor stands at the last seq, in frames/s. Measured with the
// per-repo continuity state (a compare-and-set per commit inside the MULTI) beside the same adapter without it, in
// the same run. Commit signatures are not checked here (the `commit` suite measures that); needs Redis
// (TEST_REDIS_URL or 127.0.0.1:6379).
import { Redis } from 'ioredis';
import { runFirehoseIngester } from '../../long-runners/firehose/firehose-ingester.ts';
import { createKeySpace } from '../../adapters/redis/keys.ts';
import { createRepoStateStore } from '../../adapters/redis/repo-state.ts';
import { noMetrics, silentLog } from '../../functions/ports.ts';
import { startFakeRelay } from '../../long-runners/dev/fake-relay.ts';
import { buildCommitFrame } from '../helpers/frames.ts';
import { tid } from '../helpers/events.ts';
import { compareOpsPerSecond } from './measure.ts';
import type { BenchRow } from './types.ts';

const FRAMES = Number(process.env['BENCH_INGEST_FRAMES'] ?? 3000);
const REDIS_URL = process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

export async function runIngestBench(): Promise<BenchRow[]> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
  const relay = await startFakeRelay();
  try {
    for (let i = 0; i < FRAMES; i++) {
      const did = `did:plc:${(1e6 + (i % 300)).toString(36).padStart(24, 'a')}`;
      const rev = tid(Date.parse('2026-01-01T00:00:00.000Z') * 1000 + i);
      relay.append(i + 1, (await buildCommitFrame({ seq: i + 1, did, rev, ops: [{ action: 'create', collection: 'app.bsky.feed.like', rkey: rev, record: { $type: 'app.bsky.feed.like', subject: { uri: `at://${did}/app.bsky.feed.post/${tid(i)}`, cid: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' }, createdAt: '2026-01-01T00:00:00.000Z' } }] })).frame);
    }
    const ingest = (withState: boolean) => async (): Promise<number> => {
      const prefix = `bench_ingest_${Math.random().toString(36).slice(2)}:`;
      const keys = createKeySpace(prefix);
      const controller = new AbortController();
      const done = runFirehoseIngester({
        redis, keys, host: relay.host, highWaterMark: 10_000_000, batchSize: 500, batchTimeoutMs: 50, initialCursor: 0,
        log: silentLog, metrics: noMetrics, signal: controller.signal,
        ...(withState ? { repoState: createRepoStateStore(redis, prefix) } : {}),
      });
      const cursorKey = keys.cursor('firehose_live', relay.host);
      while (Number((await redis.get(cursorKey)) ?? 0) < FRAMES) await new Promise((r) => setTimeout(r, 2));
      controller.abort();
      await done;
      let scan = '0';
      do {
        const [next, found] = await redis.scan(scan, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        scan = next;
        if (found.length > 0) await redis.unlink(...found);
      } while (scan !== '0');
      return FRAMES;
    };
    const { withState, without } = await compareOpsPerSecond({ withState: ingest(true), without: ingest(false) }, 3, 1000);
    return [
      { name: 'ingest: adapter with per-repo continuity state', unit: 'frames/s', value: withState, ratio: withState / without, baseline: 'no continuity state', note: `${FRAMES} one-op commits, 300 repos` },
      { name: 'ingest: adapter without continuity state', unit: 'frames/s', value: without, ratio: 1, baseline: 'no continuity state' },
    ];
  } finally {
    await relay.close();
    await redis.quit();
  }
}
