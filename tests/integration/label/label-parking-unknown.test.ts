// label_live entries that name no labeler host, as an operator switching from rsky (or the TypeScript pipeline) finds
// them in label_live, when their source is a did:web on a host that refuses connections. rsky's entries (field
// `labels`) carry no signature, so no document is asked for: a trusted source's label is stored at once, another's
// rejected (unsigned_label); they never wait. The TypeScript pipeline's (`event` without `host`) are signed: an
// untrusted source's is rejected (wrong_labeler: from no host, it cannot be from its own) without waiting on its host;
// a trusted source's waits, parked under `unknown`, which no subscription of ours writes and so none can be held
// for: past INGESTER_LABEL_PARKED_HIGH_WATER_MARK the rest wait in label_live instead, and all are stored once the
// host answers. Real Redis, Postgres, the real resolver and a did:web host on loopback, wired as `skytide run --only
// label` wires them.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Keypair } from '@atproto/crypto';
import { parseConfig } from '../../../adapters/config/parse.ts';
import { createResources, type Resources } from '../../../long-runners/cli/resources.ts';
import { buildTasks } from '../../../long-runners/cli/tasks.ts';
import { STREAMS } from '../../../adapters/redis/keys.ts';
import { createStatusReader } from '../../../adapters/observability/pipeline-status.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { createTestRedis } from '../../helpers/services.ts';
import { labelerDoc, startFakePlc, type FakePlc } from '../../helpers/fake-plc.ts';
import { labelJson, labelKeypair, signLabel, type LabelFields } from '../../helpers/labels.ts';
import { freePort } from '../../helpers/free-port.ts';
import { waitFor } from '../../helpers/wait.ts';

const SUBJECT = 'at://did:plc:subjectsubjectsubjectsub/app.bsky.feed.post/1';
const PARKED_HIGH_WATER_MARK = 2;
const WAITING = 5;

let db: IndexDb;
let plc: FakePlc;
let redis: Awaited<ReturnType<typeof createTestRedis>>;
let key: Keypair;
let deadPort: number;
/** Trusted (LABEL_TRUSTED_SOURCES) and not, both did:web on the same host, which refuses connections at first. */
let trusted: string;
let untrusted: string;
let webHost: http.Server | undefined;
let r: Resources;
const controller = new AbortController();
let running: Promise<unknown>[] = [];

beforeAll(async () => {
  db = await createIndexDb('label_unknown');
  redis = await createTestRedis('label_unknown');
  plc = await startFakePlc();
  key = await labelKeypair();
  deadPort = await freePort();
  trusted = `did:web:localhost%3A${deadPort}`;
  untrusted = `did:web:localhost%3A${deadPort}:other`;
  const { config } = parseConfig({
    REDIS_KEY_PREFIX: redis.prefix, DATABASE_URL: db.url, PLC_URL: plc.url, IDENTITY_ALLOW_PRIVATE: 'true',
    LABEL_TRUSTED_SOURCES: trusted, INGESTER_LABEL_PARKED_HIGH_WATER_MARK: String(PARKED_HIGH_WATER_MARK),
    LABEL_PARKED_RECHECK_MAX_MS: '200', INDEXER_CLAIM_IDLE_MS: '200', INDEXER_BATCH_SIZE: '20', INDEXER_CONCURRENCY: '1',
    INDEXER_CONSUMER: 'unknown-host', LOG_LEVEL: 'error',
  });
  r = createResources(config, 'label-unknown-test');
});

afterAll(async () => {
  controller.abort();
  await Promise.allSettled(running);
  await r?.close();
  await new Promise((resolve) => (webHost === undefined ? resolve(undefined) : webHost.close(resolve)));
  await plc?.close();
  await redis?.cleanup();
  await db?.close();
});

const label = (src: string, val: string): LabelFields => ({ ver: 1, src, uri: SUBJECT, val, cts: '2026-01-01T00:00:00Z' });
const stored = async (src: string): Promise<string[]> =>
  ((await db.sql.query('select val from label where src = $1 order by val', [src])) as { val: string }[]).map((row) => row.val);
const metric = async (line: string): Promise<number> => {
  const found = (await r.metrics.registry.metrics()).split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? Number.NaN : Number(found.slice(line.length + 1));
};
const parkedUnknown = async () => Number((await redis.redis.hget(`${redis.prefix}label_live:parked_from`, 'unknown')) ?? 0);

describe('label_live entries that name no labeler host, their source\'s did:web host down', () => {
  it('rsky\'s (unsigned) never wait: stored from a trusted source, rejected from another', async () => {
    const stream = r.keys.stream(STREAMS.labelLive);
    // rsky-ingester's LabelStreamEvent, one per #labels frame, without sig, ver or exp (the rsky contract, "Stream entry formats").
    const rsky = (seq: number, src: string, val: string) =>
      JSON.stringify({ seq, labels: [{ src, uri: SUBJECT, cid: null, val, neg: null, cts: '2026-01-01 00:00:00 UTC' }] });
    await redis.redis.xadd(stream, '*', 'labels', rsky(1, trusted, 'rsky-trusted'));
    await redis.redis.xadd(stream, '*', 'labels', rsky(2, untrusted, 'rsky-untrusted'));
    running = buildTasks(r, ['label']).map((t) => t.run(controller.signal));
    await waitFor(() => stored(trusted), (vals) => vals.includes('rsky-trusted'), 'rsky\'s trusted label to be stored');
    await waitFor(() => metric('skytide_labels_rejected_total{host="unknown",reason="unsigned_label"}'), (n) => n === 1, 'rsky\'s untrusted label to be rejected');
    expect(await metric('skytide_labels_parked_total{host="unknown"}')).toBe(0);
  });

  it('the TypeScript pipeline\'s (signed): an untrusted source\'s is rejected without waiting; a trusted source\'s wait, at most the parked high-water mark of them parked', async () => {
    const stream = r.keys.stream(STREAMS.labelLive);
    await redis.redis.xadd(stream, '*', 'event', JSON.stringify({ type: 'label', label: labelJson(await signLabel(key, label(untrusted, 'ts-untrusted'))) }));
    for (let i = 1; i <= WAITING; i++) {
      await redis.redis.xadd(stream, '*', 'event', JSON.stringify({ type: 'label', label: labelJson(await signLabel(key, label(trusted, `ts-${i}`))) }));
    }
    await waitFor(() => metric('skytide_labels_rejected_total{host="unknown",reason="wrong_labeler"}'), (n) => n === 1, 'the untrusted source\'s label to be rejected');
    // The trusted source's wait on its host: the parked high-water mark of them parked, the rest left waiting in
    // label_live (pending, none dead-lettered), where label_live's length holds whoever writes them.
    await waitFor(
      async () => ({ parked: await parkedUnknown(), length: await redis.redis.xlen(stream) }),
      (s) => s.parked === PARKED_HIGH_WATER_MARK && s.length === WAITING - PARKED_HIGH_WATER_MARK,
      'the mark of them to be parked, the rest to wait in label_live',
    );
    // Waited on again and again (claimed back after INDEXER_CLAIM_IDLE_MS), they stay where they are.
    await waitFor(() => metric('skytide_labels_total{host="unknown",outcome="retry"}'), (n) => n >= WAITING + 2 * (WAITING - PARKED_HIGH_WATER_MARK), 'the waiting ones to be tried again');
    expect(await parkedUnknown()).toBe(PARKED_HIGH_WATER_MARK);
    expect(await redis.redis.xlen(stream)).toBe(WAITING - PARKED_HIGH_WATER_MARK);
    expect(await redis.redis.xlen(r.keys.dlq(STREAMS.labelLive))).toBe(0);
    expect(await metric('skytide_labels_parked_total{host="unknown"}')).toBe(PARKED_HIGH_WATER_MARK);
    const status = await createStatusReader({ redis: redis.redis, sql: () => db.sql, keys: r.keys, hosts: [], labelerHosts: [] }).read();
    expect(status.labelsParked).toEqual({ unknown: PARKED_HIGH_WATER_MARK });
    expect(await stored(untrusted)).toEqual([]);
  });

  it('are all stored once the host answers: the parked ones released, the waiting ones read again', async () => {
    webHost = http.createServer((req, res) => {
      if (req.url !== '/.well-known/did.json') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(labelerDoc({ did: trusted, atproto: key, label: key, labeler: 'https://labeler.example' })));
    });
    await new Promise<void>((resolve) => webHost!.listen(deadPort, '127.0.0.1', resolve));
    await waitFor(() => stored(trusted), (vals) => vals.length === WAITING + 1, 'the trusted source\'s labels to be stored');
    expect(await stored(trusted)).toEqual(['rsky-trusted', ...Array.from({ length: WAITING }, (_, i) => `ts-${i + 1}`)]);
    await waitFor(
      async () => ({ parked: await parkedUnknown(), length: await redis.redis.xlen(r.keys.stream(STREAMS.labelLive)) }),
      (s) => s.parked === 0 && s.length === 0,
      'nothing to be left parked or in label_live',
    );
    expect(await metric('skytide_labels_released_total')).toBe(PARKED_HIGH_WATER_MARK);
    expect(await redis.redis.xlen(r.keys.dlq(STREAMS.labelLive))).toBe(0);
  });
});
