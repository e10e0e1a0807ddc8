// The label consumer as `skytide run --only label` wires it (createResources + buildTasks): label_live entries of
// skytide and of rsky become rows through the same consumer as the index; an entry that is not a label entry goes to
// label_live_dlq; a label whose source cannot be resolved is retried, then dead-lettered with identity_failed; a PLC
// directory that is down is waited out, with nothing dead-lettered and no label rejected.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Keypair } from '@atproto/crypto';
import { parseConfig } from '../../../adapters/config/parse.ts';
import { createResources, type Resources } from '../../../long-runners/cli/resources.ts';
import { buildTasks } from '../../../long-runners/cli/tasks.ts';
import { GROUPS, STREAMS } from '../../../adapters/redis/keys.ts';
import { appendBatch } from '../../../adapters/redis/stream-writer.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { createTestRedis } from '../../helpers/services.ts';
import { labelerDoc, startFakePlc, type FakePlc } from '../../helpers/fake-plc.ts';
import { labelEvent, labelKeypair, signLabel } from '../../helpers/labels.ts';
import { waitFor } from '../../helpers/wait.ts';

const LABELER = 'did:plc:consumerlabelerconsumerx';
const TRUSTED = 'did:plc:rskytrustedrskytrustedxx';
// Not resolved before the outage, so no cached document can stand in for the directory.
const LATE_LABELER = 'did:plc:latelabelerlatelabelerxx';
const HOST = 'mod.example';
const SUBJECT = 'at://did:plc:subjectsubjectsubjectsub/app.bsky.feed.post/1';

let db: IndexDb;
let plc: FakePlc;
let redis: Awaited<ReturnType<typeof createTestRedis>>;
let key: Keypair;
let r: Resources;
const controller = new AbortController();
let running: Promise<unknown>[] = [];

beforeAll(async () => {
  db = await createIndexDb('label_consumer');
  plc = await startFakePlc();
  redis = await createTestRedis('label_consumer');
  key = await labelKeypair();
  plc.set(LABELER, labelerDoc({ did: LABELER, atproto: await labelKeypair(), label: key, labeler: `https://${HOST}` }));
  plc.set(LATE_LABELER, labelerDoc({ did: LATE_LABELER, atproto: await labelKeypair(), label: key, labeler: `https://${HOST}` }));
  const { config } = parseConfig({
    REDIS_KEY_PREFIX: redis.prefix,
    DATABASE_URL: db.url,
    PLC_URL: plc.url,
    IDENTITY_ALLOW_PRIVATE: 'true',
    INDEXER_CONCURRENCY: '1',
    INDEXER_MAX_ATTEMPTS: '2',
    INDEXER_CLAIM_IDLE_MS: '300',
    INDEXER_CONSUMER: 'label-test',
    INGESTER_LABELER_HOSTS: HOST,
    LABEL_TRUSTED_SOURCES: TRUSTED,
    LOG_LEVEL: 'error',
  });
  r = createResources(config, 'label-consumer-test');
  const tasks = buildTasks(r, ['label']);
  // The consumer loop, and the loop that releases labels parked while their source's host was down.
  expect(tasks.map((t) => t.name)).toEqual(['label:0', 'label:release']);
  running = tasks.map((t) => t.run(controller.signal));
});

afterAll(async () => {
  controller.abort();
  await Promise.allSettled(running);
  await r?.close();
  await plc?.close();
  await redis?.cleanup();
  await db?.close();
});

const stream = () => r.keys.stream(STREAM);
const STREAM = STREAMS.labelLive;
const push = (fields: Record<string, string>[]) => appendBatch(redis.redis, { entries: fields.map((f) => ({ stream: stream(), fields: f })) });
const drained = async () => {
  const [length, pending] = await Promise.all([redis.redis.xlen(stream()), redis.redis.xpending(stream(), GROUPS.label).then((p) => Number((p as [number])[0]), () => 0)]);
  return length === 0 && pending === 0;
};
const dlq = async () => (await redis.redis.xrange(r.keys.dlq(STREAM), '-', '+')).map(([, f]) => Object.fromEntries(f.reduce<[string, string][]>((acc, v, i, all) => (i % 2 === 0 ? [...acc, [v, all[i + 1]!]] : acc), [])));

describe('label_live through the consumer', () => {
  it('stores skytide and rsky entries, acknowledges and deletes them, and dead-letters what is not a label entry', async () => {
    const signed = await signLabel(key, { ver: 1, src: LABELER, uri: SUBJECT, val: 'spam', cts: '2026-01-01T00:00:00Z' });
    await push([
      { event: JSON.stringify(labelEvent(HOST, signed)) },
      { labels: JSON.stringify({ seq: 3, labels: [{ src: TRUSTED, uri: SUBJECT, cid: null, val: 'rsky', neg: null, cts: '2026-01-01 00:00:01 UTC' }] }) },
      { event: JSON.stringify({ type: 'create' }) },
    ]);
    await waitFor(drained, (d) => d, 'label_live to drain');
    expect(await db.sql.query('select src, val from label order by val')).toEqual([{ src: TRUSTED, val: 'rsky' }, { src: LABELER, val: 'spam' }]);
    expect(await dlq()).toEqual([{ event: JSON.stringify({ type: 'create' }), reason: 'invalid_event', attempts: '1', error: '`event` is not a label event', source_id: expect.stringMatching(/^\d+-\d+$/) }]);
    const exposition = await r.metrics.registry.metrics();
    expect(exposition).toContain(`skytide_labels_total{host="${HOST}",outcome="label"} 1`);
    expect(exposition).toContain(`skytide_labels_trusted_total{src="${TRUSTED}",why="unsigned"} 1`);
    expect(exposition).toContain('skytide_consumer_entries_total{stream="label_live",outcome="ok"} 2');
  });

  it('retries a label whose source cannot be resolved, then dead-letters it with identity_failed', async () => {
    const unknown = 'did:plc:nobodynobodynobodynobody';
    await push([{ event: JSON.stringify(labelEvent(HOST, await signLabel(key, { ver: 1, src: unknown, uri: SUBJECT, val: 'x', cts: '2026-01-01T00:00:00Z' }))) }]);
    await waitFor(drained, (d) => d, 'the deferred entry to reach the dlq', 20_000);
    expect((await dlq()).at(-1)).toMatchObject({ reason: 'identity_failed', attempts: '2' });
  });

  it('waits out a PLC directory that is down: nothing dead-lettered, the label stored once it answers', async () => {
    const before = (await dlq()).length;
    plc.down = true;
    await push([{ event: JSON.stringify(labelEvent(HOST, await signLabel(key, { ver: 1, src: LATE_LABELER, uri: SUBJECT, val: 'after-outage', cts: '2026-01-01T00:00:00Z' }))) }]);
    // Each probe asks the directory again; several rounds pass through the claim window without a verdict.
    await waitFor(() => plc.requests.get(LATE_LABELER) ?? 0, (n) => n >= 6, 'the consumer to keep asking the directory', 20_000);
    expect((await dlq()).length).toBe(before);
    expect(await db.sql.query(`select val from label where val = 'after-outage'`)).toEqual([]);
    // On the outage board (/ready's degraded) and counted, as the index and backfill loops' waits are: the label loop
    // was not given the board, so its waits on the directory showed nowhere.
    expect(r.outages.snapshot()).toEqual([expect.objectContaining({ dependency: 'plc' })]);
    expect(await r.metrics.registry.metrics()).toMatch(/skytide_outage_waits_total\{dependency="plc"\} [1-9]/);
    plc.down = false;
    await waitFor(drained, (d) => d, 'the entry to be stored after the outage', 30_000);
    expect(await db.sql.query(`select val from label where val = 'after-outage'`)).toEqual([{ val: 'after-outage' }]);
    expect((await dlq()).length).toBe(before);
    expect(await r.metrics.registry.metrics()).toContain(`skytide_labels_total{host="${HOST}",outcome="rejected"} 0`);
  });
});
