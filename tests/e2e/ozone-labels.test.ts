// Labels end to end against a real labeler: Ozone, run by @atproto/dev-env beside a PDS, signing every label with
// its #atproto_label key. A moderator labels and unlabels records and accounts through Ozone's own API, relabels,
// negates a label with its own cid and with another (after the post was edited), and labels with an expiry. skytide
// follows Ozone's subscribeLabels from cursor 0 while this happens (a test-side reader stands in for the label
// subscriber until it runs on the shared subscription runner), through label_live and the real label consumer, and
// its queryLabels must answer exactly the labels in force that Ozone's rows imply: the newest cts per (src, uri, val)
// decides, negations and expired labels excluded, with their cid, cts, exp and signature, paged by cursor. A restart
// from cursor 0 and a replay of the whole label_live stream change nothing; expiry is checked by moving the clock.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hono } from 'hono';
import { parseConfig } from '../../adapters/config/parse.ts';
import { createResources, type Resources } from '../../long-runners/cli/resources.ts';
import { buildTasks } from '../../long-runners/cli/tasks.ts';
import { createApp } from '../../adapters/http/app.ts';
import { GROUPS, hostKey, STREAMS } from '../../adapters/redis/keys.ts';
import { appendBatch } from '../../adapters/redis/stream-writer.ts';
import { verifySignature } from '@atproto/crypto';
import { parseLabel, signingBytes } from '../../functions/label/label.ts';
import { parseDidDocument } from '../../functions/atproto/identity/did-document.ts';
import { formatDidKey } from '../../functions/atproto/crypto/keys.ts';
import { createIndexDb, type IndexDb } from '../helpers/index-db.ts';
import { createTestRedis } from '../helpers/services.ts';
import { startOzoneNetwork, type LabelSubject, type OzoneNetwork, type OzoneUser } from '../helpers/ozone-network.ts';
import { startLabelReader, type LabelReader } from '../helpers/label-reader.ts';
import { waitFor } from '../helpers/wait.ts';

let ozone: OzoneNetwork;
let db: IndexDb;
let redis: Awaited<ReturnType<typeof createTestRedis>>;
let r: Resources;
let reader: LabelReader;
let app: Hono;
let now = Date.now();
const clock = { now: () => now };
const controller = new AbortController();
let running: Promise<unknown>[] = [];

beforeAll(async () => {
  // One at a time, so that whatever started is cleaned up by afterAll if a later one fails.
  db = await createIndexDb('ozone_labels');
  redis = await createTestRedis('ozone_labels');
  ozone = await startOzoneNetwork();
  const { config } = parseConfig({
    REDIS_KEY_PREFIX: redis.prefix,
    DATABASE_URL: db.url,
    PLC_URL: ozone.plcUrl,
    IDENTITY_ALLOW_PRIVATE: 'true',
    INGESTER_LABELER_HOSTS: ozone.ozoneUrl,
    INDEXER_CONCURRENCY: '1',
    INDEXER_CONSUMER: 'ozone-e2e',
    LOG_LEVEL: 'error',
  });
  r = createResources(config, 'ozone-e2e');
  running = buildTasks(r, ['label']).map((t) => t.run(controller.signal));
  // The app as `skytide run` builds it, with a clock the test can move.
  app = createApp({
    auth: { dev: false, token: 'tok' },
    bodyLimitBytes: 1 << 20,
    ports: { ...r.ports, clock, sql: r.sql() },
    metrics: { contentType: r.metrics.registry.contentType, render: () => r.metrics.registry.metrics() },
    readiness: [],
  });
  reader = await startLabelReader({ redis: redis.redis, keys: r.keys, host: ozone.ozoneUrl });
}, 180_000);

afterAll(async () => {
  controller.abort();
  await reader?.close();
  await Promise.allSettled(running);
  await r?.close();
  await ozone?.close();
  await redis?.cleanup();
  await db?.close();
}, 60_000);

/** What Ozone's rows imply is in force at `at`: newest cts per (src, uri, val), a negation winning a tie. */
function impliedInForce(rows: Record<string, unknown>[], at: number): Record<string, unknown>[] {
  const newest = new Map<string, Record<string, unknown>>();
  for (const row of rows) {
    const key = `${String(row['uri'])}\u0000${String(row['src'])}\u0000${String(row['val'])}`;
    const seen = newest.get(key);
    const t = Date.parse(String(row['cts']));
    const s = seen === undefined ? -Infinity : Date.parse(String(seen['cts']));
    if (seen === undefined || t > s || (t === s && row['neg'] === true)) newest.set(key, row);
  }
  return [...newest.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([, row]) => row)
    .filter((row) => row['neg'] !== true && (row['exp'] === undefined || Date.parse(String(row['exp'])) > at));
}

async function skytideLabels(limit = 250): Promise<{ labels: Record<string, unknown>[]; pages: number }> {
  const labels: Record<string, unknown>[] = [];
  let cursor: string | undefined;
  let pages = 0;
  for (;;) {
    const qs = new URLSearchParams({ uriPatterns: '*', limit: String(limit), ...(cursor === undefined ? {} : { cursor }) });
    const res = await app.request(`/xrpc/com.atproto.label.queryLabels?${qs}`);
    expect(res.status).toBe(200);
    const page = (await res.json()) as { labels: Record<string, unknown>[]; cursor?: string };
    pages++;
    labels.push(...page.labels);
    if (page.cursor === undefined) return { labels, pages };
    cursor = page.cursor;
  }
}

/** Everything Ozone sequenced is in label_live and processed. */
async function caughtUp(): Promise<void> {
  const latest = await ozone.latestSeq();
  const stream = r.keys.stream(STREAMS.labelLive);
  await waitFor(
    async () => ({
      cursor: (await reader.cursor()) ?? 0,
      length: await redis.redis.xlen(stream),
      pending: await redis.redis.xpending(stream, GROUPS.label).then((p) => Number((p as [number])[0]), () => -1),
    }),
    (s) => s.cursor >= latest && s.length === 0 && s.pending === 0,
    `skytide to catch up with Ozone's seq ${latest}`,
    30_000,
  );
}

const dump = () => db.sql.query('select src, uri, cid, val, neg, cts, exp, "labelVer", "labelSig", "signingKey" from label_version order by src, uri, cid, val');

let alice: OzoneUser;
let bob: OzoneUser;
let post1: { uri: string; cid: string };
let post2: { uri: string; cid: string };

describe('Ozone -> subscribeLabels -> label_live -> the label function -> queryLabels', () => {
  it('follows a moderator labelling, unlabelling, relabelling, negating across an edit, and labelling with an expiry', async () => {
    [alice, bob] = [await ozone.createUser('alice'), await ozone.createUser('bob')];
    const created1 = await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'app.bsky.feed.post', record: { text: 'one', createdAt: new Date().toISOString() } });
    const created2 = await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'app.bsky.feed.post', record: { text: 'two', createdAt: new Date().toISOString() } });
    post1 = created1.data;
    post2 = created2.data;
    const ref = (p: { uri: string; cid: string }): LabelSubject => ({ $type: 'com.atproto.repo.strongRef', uri: p.uri, cid: p.cid });
    const account = (did: string): LabelSubject => ({ $type: 'com.atproto.admin.defs#repoRef', did });

    await ozone.label(ref(post1), { create: ['spam', 'rumor'] });
    await ozone.label(account(alice.did), { create: ['rude'] });
    await ozone.label(ref(post2), { create: ['misleading'] });
    // Unlabel with the label's own cid.
    await ozone.label(ref(post2), { negate: ['misleading'] });
    // Relabel an account: label, unlabel, label again.
    await ozone.label(account(alice.did), { negate: ['rude'] });
    await ozone.label(account(alice.did), { create: ['rude'] });
    // Edit post1, then negate spam against the NEW cid: Ozone keeps the old positive row beside the new negation.
    const rkey1 = post1.uri.split('/').at(-1)!;
    const edited = await alice.agent.com.atproto.repo.putRecord({ repo: alice.did, collection: 'app.bsky.feed.post', rkey: rkey1, record: { text: 'one, edited', createdAt: new Date().toISOString() } });
    expect(edited.data.cid).not.toBe(post1.cid);
    await ozone.label(ref({ uri: post1.uri, cid: edited.data.cid }), { negate: ['spam'] });
    // Labels with an expiry (Ozone's shortest is an hour).
    await ozone.label(account(bob.did), { create: ['!warn'], durationInHours: 1 });
    await ozone.label(ref(post2), { create: ['sensitive'], durationInHours: 48 });

    const rows = await ozone.ozoneRows();
    // Ozone's rows really hold what the old pipelines got wrong: a positive spam row on the old cid, a negation on the new.
    const spam = rows.filter((row) => row['uri'] === post1.uri && row['val'] === 'spam');
    expect(spam.map((row) => [row['cid'], row['neg'] === true]).sort()).toEqual([[post1.cid, false], [edited.data.cid, true]].sort());

    await caughtUp();
    now = Date.now();
    const expected = impliedInForce(rows, now);
    expect(expected.map((l) => `${String(l['uri'])} ${String(l['val'])}`).sort()).toEqual(
      [`${alice.did} rude`, `${bob.did} !warn`, `${post1.uri} rumor`, `${post2.uri} sensitive`].sort(),
    );
    const answer = await skytideLabels();
    expect(answer.labels).toEqual(expected);
    // Every answer still verifies against Ozone's #atproto_label key (and only because it is returned as signed).
    const identity = parseDidDocument(ozone.ozoneDid, await (await fetch(`${ozone.plcUrl}/${ozone.ozoneDid}`)).json());
    const labelKey = formatDidKey(identity.labelKey!);
    for (const label of answer.labels) {
      const parsed = parseLabel(label);
      if (!parsed.ok) throw new Error(parsed.message);
      expect(await verifySignature(labelKey, signingBytes(parsed.label), parsed.label.sig!, { allowMalleableSig: false })).toBe(true);
    }
    // Paged: the same labels, a page at a time.
    const paged = await skytideLabels(1);
    expect(paged.labels).toEqual(answer.labels);
    expect(paged.pages).toBe(answer.labels.length + 1);
    expect(await r.metrics.registry.metrics()).toContain(`skytide_labels_rejected_total{host="${hostKey(ozone.ozoneUrl)}",reason="bad_signature"} 0`);
  });

  it('decides expiry by the clock: an hour later the !warn label is gone, its row stays', async () => {
    const rows = await ozone.ozoneRows();
    now = Date.now() + 2 * 3600_000;
    const answer = await skytideLabels();
    expect(answer.labels).toEqual(impliedInForce(rows, now));
    expect(answer.labels.map((l) => l['val'])).not.toContain('!warn');
    expect(answer.labels.map((l) => l['val'])).toContain('sensitive');
    expect(await db.sql.query(`select val from label where val = '!warn'`)).toEqual([{ val: '!warn' }]);
    now = Date.now();
  });

  it('changes nothing on a restart from cursor 0, nor on a replay of the whole label_live stream', async () => {
    const before = await dump();
    const answer = await skytideLabels();
    const written = [...reader.written];
    await reader.close();
    await redis.redis.del(r.keys.cursor(STREAMS.labelLive, ozone.ozoneUrl));
    reader = await startLabelReader({ redis: redis.redis, keys: r.keys, host: ozone.ozoneUrl });
    await caughtUp();
    expect(reader.written.length).toBeGreaterThan(0);
    expect(await dump()).toEqual(before);
    // Every entry ever written, written again.
    await appendBatch(redis.redis, { entries: written.map((event) => ({ stream: r.keys.stream(STREAMS.labelLive), fields: { event } })) });
    await caughtUp();
    expect(await dump()).toEqual(before);
    expect((await skytideLabels()).labels).toEqual(answer.labels);
  });
});
