// One hostile labeler must not stop label ingestion from the others. Labeler A streams labels whose `src` is a did:web
// on a host that refuses connections: each label waits on that host (an outage, never a verdict). Left pending in
// label_live, they held its length over INGESTER_LABEL_HIGH_WATER_MARK and every labeler's subscription paused. Now
// they are parked per source host out of the stream (label-parking.ts) and released once the host answers again.
// Real Redis, Postgres, two labelers on loopback and the real identity resolver, wired as `skytide run` wires them.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Keypair } from '@atproto/crypto';
import { parseConfig } from '../../../adapters/config/parse.ts';
import { createResources, type Resources } from '../../../long-runners/cli/resources.ts';
import { buildTasks } from '../../../long-runners/cli/tasks.ts';
import { createKeySpace, hostKey, STREAMS } from '../../../adapters/redis/keys.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { createTestRedis } from '../../helpers/services.ts';
import { labelerDoc, startFakePlc, type FakePlc } from '../../helpers/fake-plc.ts';
import { labelKeypair, labelsFrame, signLabel, type LabelFields } from '../../helpers/labels.ts';
import { startHostileLabeler, type HostileLabeler } from '../../../long-runners/dev/hostile-labeler.ts';
import { createStatusReader } from '../../../adapters/observability/pipeline-status.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { readSeqCursor } from '../../../adapters/redis/cursor-store.ts';
import { runLabelSubscriber } from '../../../long-runners/labels/label-subscriber.ts';
import { noMetrics, silentLog, type Log } from '../../../functions/ports.ts';
import type { Redis } from 'ioredis';
import { freePort } from '../../helpers/free-port.ts';
import { waitFor } from '../../helpers/wait.ts';

const GOOD = 'did:plc:goodlabelergoodlabelergo';
const SUBJECT = 'at://did:plc:subjectsubjectsubjectsub/app.bsky.feed.post/1';
/** Labels A sends from the dead host: more than the high-water mark of label_live (and than A's parked mark). */
const WAITING = 30;
const HIGH_WATER_MARK = 10;
/** Labels parked from one labeler at which only that labeler's subscription pauses. */
const PARKED_HIGH_WATER_MARK = 20;

let db: IndexDb;
let plc: FakePlc;
let redis: Awaited<ReturnType<typeof createTestRedis>>;
let a: HostileLabeler;
let b: HostileLabeler;
let webKey: Keypair;
let goodKey: Keypair;
let deadPort: number;
let web: string;
let webHost: http.Server | undefined;
const started: { r: Resources; controller: AbortController; running: Promise<unknown>[] }[] = [];

function config() {
  return parseConfig({
    REDIS_KEY_PREFIX: redis.prefix,
    DATABASE_URL: db.url,
    PLC_URL: plc.url,
    IDENTITY_ALLOW_PRIVATE: 'true',
    INGESTER_LABELER_HOSTS: `${a.host},${b.host}`,
    LABEL_PARKED_RECHECK_MAX_MS: '200',
    INDEXER_BATCH_SIZE: '5',
    INDEXER_CONCURRENCY: '1',
    INDEXER_CONSUMER: 'parking',
    LOG_LEVEL: 'error',
  }).config;
}

/** Starts the label consumer as `skytide run --only label` would, on resources of its own (a process of its own). */
function startConsumer() {
  const r = createResources(config(), 'label-parking-test');
  const controller = new AbortController();
  const run = { r, controller, running: buildTasks(r, ['label']).map((t) => t.run(controller.signal)) };
  started.push(run);
  return run;
}

/** A connection whose XLEN calls (the subscription's hold checks) are counted. */
function countingXlen(redis: Redis): { redis: Redis; checks: () => number } {
  let checks = 0;
  const proxy = new Proxy(redis, {
    get(target, property) {
      if (property === 'xlen') checks++;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { redis: proxy, checks: () => checks };
}

/** Why each labeler's subscription paused, as it logged it. */
const paused = new Map<string, unknown[]>();
const subscriptions = new AbortController();
const subscribing: Promise<void>[] = [];

/** The label subscriber of one labeler, with a small high-water mark and hold checks at every batch timeout. */
function subscribe(host: string): { checks: () => number } {
  const connection = countingXlen(redis.redis.duplicate());
  const log: Log = {
    ...silentLog,
    warn: (msg, fields) => {
      if (msg === 'subscription paused') paused.set(hostKey(host), [...(paused.get(hostKey(host)) ?? []), fields]);
    },
    child: () => log,
  };
  subscribing.push(runLabelSubscriber({
    redis: connection.redis, keys: createKeySpace(redis.prefix), host, highWaterMark: HIGH_WATER_MARK, parkedHighWaterMark: PARKED_HIGH_WATER_MARK,
    batchSize: 5, batchTimeoutMs: 20, lengthCheckIntervalMs: 20, initialCursor: 0, log, metrics: noMetrics, signal: subscriptions.signal,
  }).finally(() => connection.redis.disconnect()));
  return connection;
}

async function stop(run: (typeof started)[number]): Promise<void> {
  run.controller.abort();
  await Promise.allSettled(run.running);
  await run.r.close();
  started.splice(started.indexOf(run), 1);
}

beforeAll(async () => {
  db = await createIndexDb('label_parking');
  redis = await createTestRedis('label_parking');
  plc = await startFakePlc();
  [a, b] = await Promise.all([startHostileLabeler(), startHostileLabeler()]);
  [webKey, goodKey] = await Promise.all([labelKeypair(), labelKeypair()]);
  // A did:web whose host refuses every connection, until the test brings it up.
  deadPort = await freePort();
  web = `did:web:localhost%3A${deadPort}`;
  plc.set(GOOD, labelerDoc({ did: GOOD, atproto: goodKey, label: goodKey, labeler: b.host }));
});

afterAll(async () => {
  subscriptions.abort();
  await Promise.allSettled(subscribing);
  for (const run of [...started]) await stop(run);
  await new Promise((resolve) => (webHost === undefined ? resolve(undefined) : webHost.close(resolve)));
  await a?.close();
  await b?.close();
  await plc?.close();
  await redis?.cleanup();
  await db?.close();
});

const label = (src: string, val: string): LabelFields => ({ ver: 1, src, uri: SUBJECT, val, cts: '2026-01-01T00:00:00Z' });

const stored = async (src: string): Promise<string[]> =>
  ((await db.sql.query('select val from label where src = $1 order by val', [src])) as { val: string }[]).map((row) => row.val);

/** Entries parked, from every labeler. */
const parkedCount = async (): Promise<number> =>
  Object.values(await redis.redis.hgetall(`${redis.prefix}label_live:parked_from`)).reduce((sum, n) => sum + Number(n), 0);

const metric = async (run: (typeof started)[number], line: string): Promise<number> => {
  const text = await run.r.metrics.registry.metrics();
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? Number.NaN : Number(found.slice(line.length + 1));
};

describe('labels waiting on their source host', () => {
  let consumer: (typeof started)[number];

  it('are parked out of label_live: another labeler\'s labels keep flowing, and only their labeler is held', async () => {
    consumer = startConsumer();
    const fromA = subscribe(a.host);
    const fromB = subscribe(b.host);
    for (let seq = 1; seq <= WAITING; seq++) a.append(labelsFrame(seq, [await signLabel(webKey, label(web, `waiting-${seq}`))]));
    // The consumer judged at least a high-water mark of A's labels waiting on their source.
    await waitFor(
      () => metric(consumer, `skytide_labels_total{host="${hostKey(a.host)}",outcome="retry"}`),
      (n) => n >= HIGH_WATER_MARK,
      'labeler A\'s labels to wait on their source',
    );
    // And A's subscription is held: by the stream's length before parking, by its own parked labels since.
    await waitFor(() => paused.get(hostKey(a.host))?.length ?? 0, (n) => n > 0, 'labeler A\'s subscription to pause');
    // B has checked its holds since (it would have paused then, as it did before parking).
    const checks = fromB.checks();
    await waitFor(() => fromB.checks(), (n) => n > checks + 1, 'labeler B to check its holds');
    for (let seq = 1; seq <= 5; seq++) b.append(labelsFrame(seq, [await signLabel(goodKey, label(GOOD, `good-${seq}`))]));
    await waitFor(() => stored(GOOD), (vals) => vals.length === 5, 'labeler B\'s labels to be stored');
    expect(await stored(GOOD)).toEqual(['good-1', 'good-2', 'good-3', 'good-4', 'good-5']);
    expect(await stored(web)).toEqual([]);
    // B may have paused a moment while label_live was over its mark (before the consumer parked A's labels), never
    // for parked labels: only A is held for those, and stays held.
    expect((paused.get(hostKey(b.host)) ?? []).filter((f) => JSON.stringify(f).includes('parked'))).toEqual([]);
    // A is held on its own parked labels: past its parked high-water mark it reads nothing more, whatever its holds say.
    const parkedFromA = () => redis.redis.hget(`${redis.prefix}label_live:parked_from`, hostKey(a.host)).then(Number);
    await waitFor(parkedFromA, (n) => n >= PARKED_HIGH_WATER_MARK, 'labeler A\'s parked labels to reach its mark');
    const checksOfA = fromA.checks();
    await waitFor(() => fromA.checks(), (n) => n > checksOfA + 2, 'labeler A to check its holds');
    const cursorOfA = (await readSeqCursor(redis.redis, consumer.r.keys.cursor(STREAMS.labelLive, a.host))) ?? 0;
    expect(cursorOfA).toBeLessThan(WAITING);
    expect(await parkedFromA()).toBe(cursorOfA);
    // The status shows what each labeler has parked.
    const reader = createStatusReader({ redis: redis.redis, sql: () => db.sql, keys: consumer.r.keys, hosts: [], labelerHosts: [a.host, b.host] });
    const status = await reader.read();
    expect(status.labelsParked).toEqual({ [hostKey(a.host)]: cursorOfA, [hostKey(b.host)]: 0 });
    // And so do the gauges, refreshed from the same read: parked labels and each labeler's cursor (B's: its 5 labels).
    const bundle = createMetrics({ hosts: [], streams: [], labelHosts: [hostKey(a.host), hostKey(b.host)] });
    await reader.refreshGauges(bundle.gauges);
    const gauges = await bundle.registry.metrics();
    const gauge = (line: string) => Number(gauges.split('\n').find((l) => l.startsWith(`${line} `))?.slice(line.length + 1));
    expect(gauge(`skytide_parked_labels{host="${hostKey(a.host)}"}`)).toBe(cursorOfA);
    expect(gauge(`skytide_parked_labels{host="${hostKey(b.host)}"}`)).toBe(0);
    expect(gauge('skytide_parked_labels{host="unknown"}')).toBe(0);
    expect(gauge(`skytide_label_cursor{host="${hostKey(a.host)}"}`)).toBe(cursorOfA);
    expect(gauge(`skytide_label_cursor{host="${hostKey(b.host)}"}`)).toBe(5);
    expect(await redis.redis.xlen(consumer.r.keys.stream(STREAMS.labelLive))).toBe(0);
    // Nothing of A's was dead-lettered: a host that is down is no verdict.
    expect(await redis.redis.xlen(consumer.r.keys.dlq(STREAMS.labelLive))).toBe(0);
  });

  it('stay parked across a restart of the consumer', async () => {
    const parked = await parkedCount();
    expect(parked).toBeGreaterThanOrEqual(PARKED_HIGH_WATER_MARK);
    await stop(consumer);
    // Nothing of it was in the process: the lists, the schedule and the counts are in Redis.
    expect(await redis.redis.llen(`${redis.prefix}label_live:parked:localhost:${deadPort}`)).toBe(parked);
    expect(await redis.redis.zrange(`${redis.prefix}label_live:parked_hosts`, '0', '-1')).toEqual([`localhost:${deadPort}`]);
    const scheduled = Number(await redis.redis.zscore(`${redis.prefix}label_live:parked_hosts`, `localhost:${deadPort}`));
    consumer = startConsumer();
    // The new process checks the host again (still down: it is scheduled later) and leaves every label parked.
    await waitFor(
      async () => Number(await redis.redis.zscore(`${redis.prefix}label_live:parked_hosts`, `localhost:${deadPort}`)),
      (at) => at > scheduled,
      'the new process to check the host again',
    );
    expect(await metric(consumer, 'skytide_labels_released_total')).toBe(0);
    expect(await parkedCount()).toBe(parked);
    expect(await stored(web)).toEqual([]);
  });

  it('are indexed once their source host answers again, none lost or twice', async () => {
    const parked = await parkedCount();
    webHost = http.createServer((req, res) => {
      if (req.url !== '/.well-known/did.json') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(labelerDoc({ did: web, atproto: webKey, label: webKey, labeler: a.host })));
    });
    await new Promise<void>((resolve) => webHost!.listen(deadPort, '127.0.0.1', resolve));
    // Released, A's labels are stored, and A, no longer held, sends the rest.
    await waitFor(() => stored(web), (vals) => vals.length === WAITING, 'labeler A\'s labels to be stored');
    expect(await stored(web)).toEqual(Array.from({ length: WAITING }, (_, i) => `waiting-${i + 1}`).sort());
    expect(await metric(consumer, 'skytide_labels_released_total')).toBeGreaterThanOrEqual(parked);
    // Each label was stored once: no entry went into the stream twice.
    expect(await metric(consumer, `skytide_labels_total{host="${hostKey(a.host)}",outcome="label"}`)).toBe(WAITING);
    await waitFor(
      async () => ({ parked: await parkedCount(), length: await redis.redis.xlen(consumer.r.keys.stream(STREAMS.labelLive)) }),
      (s) => s.parked === 0 && s.length === 0,
      'nothing to be left parked or in label_live',
    );
    expect(await redis.redis.zcard(`${redis.prefix}label_live:parked_hosts`)).toBe(0);
    expect(await redis.redis.xlen(consumer.r.keys.dlq(STREAMS.labelLive))).toBe(0);
  });
});
