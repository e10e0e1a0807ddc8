// Indexing throughput into real Postgres: batches of 1,000 events in one transaction each (how the consumer calls
// the index function) beside a one-transaction-per-event baseline measured in the same run on the same data shape.
import { indexBatch } from '../../functions/index/handler.ts';
import type { JsonObject, StreamEvent } from '../../functions/events.ts';
import { createIndexDb } from '../helpers/index-db.ts';
import { follow, like, post, repost, uriOf, write } from '../helpers/events.ts';
import type { BenchRow } from './types.ts';

/** Network-shaped records: likes, follows, posts (some replies and quotes), reposts, over many accounts. */
export function corpus(count: number, offset: number): StreamEvent[] {
  const events: StreamEvent[] = [];
  for (let i = 0; i < count; i++) {
    const n = offset + i;
    const did = `did:plc:${(n % 5000).toString(36).padStart(24, 'a')}`;
    const other = `did:plc:${((n * 7919) % 5000).toString(36).padStart(24, 'a')}`;
    const target = uriOf(other, 'app.bsky.feed.post', `3l${(n % 997).toString(32).padStart(11, 'a').replace(/[01]/g, 'b')}`);
    const kind = n % 10;
    const rkey = `3m${n.toString(32).padStart(11, 'a').replace(/[01]/g, 'c')}`;
    const rev = n + 1;
    if (kind < 4) events.push(write({ did, collection: 'app.bsky.feed.like', rkey, rev, record: like(target, 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm') }));
    else if (kind < 6) events.push(write({ did, collection: 'app.bsky.graph.follow', rkey, rev, record: follow(other) }));
    else if (kind < 9) {
      const extra: JsonObject = kind === 7 ? { reply: { root: { uri: target, cid: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' }, parent: { uri: target, cid: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' } } }
        : kind === 8 ? { embed: { $type: 'app.bsky.embed.record', record: { uri: target, cid: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' } } } : {};
      events.push(write({ did, collection: 'app.bsky.feed.post', rkey, rev, record: post(`post number ${n}, long enough to look like real text`, extra) }));
    } else events.push(write({ did, collection: 'app.bsky.feed.repost', rkey, rev, record: repost(target, 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm') }));
  }
  return events;
}

export async function runIndexBench(records = 50_000, baselineRecords = 2_000): Promise<BenchRow[]> {
  const db = await createIndexDb('bench_index');
  try {
    const batched = corpus(records, 0);
    let start = performance.now();
    for (let i = 0; i < batched.length; i += 1000) await indexBatch(batched.slice(i, i + 1000), db.ports);
    const batchedRate = records / ((performance.now() - start) / 1000);

    // Two batches in flight, as two consumer loops (INDEXER_CONCURRENCY=2) run them on a 2-core machine.
    const parallel = corpus(records, records * 2);
    start = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < parallel.length) {
        const slice = parallel.slice(next, (next += 1000));
        await indexBatch(slice, db.ports);
      }
    };
    await Promise.all([worker(), worker()]);
    const parallelRate = records / ((performance.now() - start) / 1000);

    const single = corpus(baselineRecords, records * 4);
    start = performance.now();
    for (const e of single) await indexBatch([e], db.ports);
    const baselineRate = baselineRecords / ((performance.now() - start) / 1000);
    return [
      { name: 'index: batches of 1,000, one in flight', unit: 'records/s', value: batchedRate, ratio: batchedRate / baselineRate, baseline: 'one transaction per event' },
      { name: 'index: batches of 1,000, two in flight', unit: 'records/s', value: parallelRate, ratio: parallelRate / baselineRate, baseline: 'one transaction per event' },
      { name: 'index: one transaction per event (baseline)', unit: 'records/s', value: baselineRate, ratio: 1, baseline: 'one transaction per event' },
    ];
  } finally {
    await db.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const row of await runIndexBench()) console.log(row);
}
