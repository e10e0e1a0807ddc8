// The label consumers `skytide run --only label` starts: INDEXER_CONCURRENCY loops on label_live in group
// label_group, through the same consumer as the index (ack, claim, retry, DLQ, outage path), each batch one call of
// the label function; and the subscribers that fill label_live (`skytide run --only labels`), one per labeler in
// INGESTER_LABELER_HOSTS, on the subscription core the firehose adapter uses.
import type { Task } from '../supervisor.ts';
import type { Resources } from './resources.ts';
import { runStreamConsumer } from '../consumer/stream-consumer.ts';
import { GROUPS, STREAMS } from '../../adapters/redis/keys.ts';
import { parseLabelFields } from '../../functions/label/entry.ts';
import { labelBatch } from '../../functions/label/handler.ts';
import { dependencyErrorIn, type DependencyError } from '../../functions/errors.ts';
import { hostKey } from '../../adapters/redis/keys.ts';
import { probeWritablePostgres } from '../../adapters/postgres/write-probe.ts';
import { runLabelSubscriber } from '../labels/label-subscriber.ts';
import { firstCheckAt, runLabelRelease } from '../labels/label-release.ts';
import { createLabelParking, type LabelParking } from '../../adapters/redis/label-parking.ts';
import { UNKNOWN_HOST } from '../../functions/label/entry.ts';
import { subscriptionLease } from './tasks.ts';

export function labelSubscriberTasks(r: Resources): Task[] {
  return r.config.labelerHosts.map((host) => ({
    name: `labels:${hostKey(host)}`,
    run: (signal, beat) =>
      runLabelSubscriber({
        redis: r.redis(), keys: r.keys, host,
        highWaterMark: r.config.labelHighWaterMark,
        parkedHighWaterMark: r.config.labelParkedHighWaterMark,
        batchSize: r.config.ingesterBatchSize,
        batchTimeoutMs: r.config.ingesterBatchTimeoutMs,
        initialCursor: r.config.labelerInitialCursor,
        log: r.log.child(`labels:${hostKey(host)}`),
        metrics: r.metrics.metrics,
        signal,
        outageBoard: { board: r.outages, waiter: `labels:${hostKey(host)}` },
        onConnection: (open) => r.metrics.gauges.labelSubscriptionConnected.set({ host: hostKey(host) }, open ? 1 : 0),
        lease: subscriptionLease(r, `labels:${hostKey(host)}`),
        beat,
      }),
  }));
}

/** The task that releases parked labels (long-runners/labels/label-release.ts): no transaction of its own. */
export const LABEL_RELEASE_TASK = 'label:release';

/**
 * The entries to park, given INGESTER_LABEL_PARKED_HIGH_WATER_MARK for those that name no labeler host (`unknown`:
 * the TypeScript pipeline wrote none; rsky's unsigned entries never wait). No subscription of ours writes them, so
 * none can be held as a labeler is at its mark: past it they are left waiting in label_live instead (pending, no
 * delivery counted, as every waiting label was before parking), where label_live's length holds whoever writes them
 * (the old pipeline's ingester too, by its own high-water mark) and no Redis fills up with them unseen. The others are
 * parked as usual. A few may go past the mark when consumers park at once: it is a bound, not a count.
 */
export async function withinUnknownMark<P extends { from: string }>(parking: LabelParking, entries: readonly P[], mark: number): Promise<P[]> {
  if (!entries.some((p) => p.from === UNKNOWN_HOST)) return [...entries];
  let room = Math.max(0, mark - (await parking.parkedFrom(UNKNOWN_HOST)));
  return entries.filter((p) => p.from !== UNKNOWN_HOST || room-- > 0);
}

export function labelTasks(r: Resources): Task[] {
  const tasks: Task[] = [];
  const trustedSources = new Set(r.config.labelTrustedSources);
  // Made on first use, as the loops' connections are: building the tasks opens nothing.
  let parkingMade: LabelParking | undefined;
  const parking = (): LabelParking => (parkingMade ??= createLabelParking(r.redis(), r.keys));
  for (let i = 0; i < r.config.indexerConcurrency; i++) {
    const log = r.log.child('consumer:label');
    // The consumer tells an outage from poison entries by its probe. A label batch also depends on the DID documents
    // of its sources: the probe asks again for the document whose fetch met an outage, so a PLC directory (or DNS)
    // that is down keeps the batch waiting, counting nothing against its entries, until it answers again.
    let outage: DependencyError | undefined;
    const probe = async () => {
      await probeWritablePostgres(r.sql());
      const did = outage?.context['did'];
      if (typeof did !== 'string') return;
      try {
        await r.identity().resolve(did, { forceRefresh: true });
      } catch (err) {
        // Still down: wait on. Any other answer (say, no such DID) ends the outage; the label gets its verdict.
        if (dependencyErrorIn(err) !== undefined) throw err;
      }
      outage = undefined;
    };
    tasks.push({
      name: `label:${i}`,
      run: (signal, beat) =>
        runStreamConsumer({
          redis: r.redis(),
          keys: r.keys,
          stream: STREAMS.labelLive,
          group: GROUPS.label,
          consumer: `${r.consumerName}-label-${i}`,
          batchSize: r.config.indexerBatchSize,
          claimIdleMs: r.config.indexerClaimIdleMs,
          maxAttempts: r.config.indexerMaxAttempts,
          parse: parseLabelFields,
          probe,
          // Its waits on the PLC directory, DNS or Postgres are on the outage board (/ready's degraded, the counter).
          outages: r.outages,
          park: async (waiting) => {
            const entries = waiting.map(({ entry, item, on }) => ({ entry, on, from: item.host ?? UNKNOWN_HOST }));
            const parked = await parking().park(
              GROUPS.label,
              await withinUnknownMark(parking(), entries, r.config.labelParkedHighWaterMark),
              firstCheckAt(Date.now(), r.config.labelParkedRecheckMaxMs),
            );
            for (const p of parked) r.metrics.metrics.inc('skytide_labels_parked_total', { host: p.from });
          },
          handle: async (entries) => {
            try {
              return (await labelBatch(entries, { ...r.ports, log, sql: r.sql(), identity: r.identity(), trustedSources })).outcomes;
            } catch (err) {
              outage = dependencyErrorIn(err) ?? outage;
              throw err;
            }
          },
          log,
          metrics: r.metrics.metrics,
          signal,
          beat,
        }),
    });
  }
  // Labels waiting on their source's host leave label_live for a list of that host (label-parking.ts); this loop
  // brings them back once it answers. One per process: any number of them share the work safely.
  tasks.push({
    name: LABEL_RELEASE_TASK,
    run: (signal, beat) =>
      runLabelRelease({
        parking: parking(), identity: r.identity(), recheckMaxMs: r.config.labelParkedRecheckMaxMs,
        highWaterMark: r.config.labelHighWaterMark,
        log: r.log.child('label:release'), metrics: r.metrics.metrics, signal, beat,
      }),
  });
  return tasks;
}
