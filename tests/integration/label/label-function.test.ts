// The label function (functions/label/handler.ts) against real Postgres, the real identity resolver talking HTTP to a
// PLC stand-in on loopback, and labels signed with @atproto/crypto. What it must get right, where the pipelines
// before it did not: a negation is a row (never a delete) and takes a label down in queryLabels whatever its cid;
// the newest cts decides; exp is decided at read time; signatures are checked against #atproto_label only; a label's
// source must be the labeler it came from; an identity outage is waited out, never a rejection.
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { verifySignature, type Keypair } from '@atproto/crypto';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { createTestRedis } from '../../helpers/services.ts';
import { labelerDoc, startFakePlc, type FakePlc } from '../../helpers/fake-plc.ts';
import { labelEvent, labelJson, labelKeypair, signLabel, type LabelFields } from '../../helpers/labels.ts';
import { createIdentityResolver } from '../../../adapters/identity/resolver.ts';
import { withRedisCache } from '../../../adapters/identity/redis-cache.ts';
import { createMetrics, type MetricsBundle } from '../../../adapters/observability/metrics.ts';
import { labelBatch, type LabelPorts } from '../../../functions/label/handler.ts';
import { notDueOn, parseNotDueOn } from '../../../functions/label/future-cts.ts';
import { parseLabelItem, type LabelEntry } from '../../../functions/label/entry.ts';
import { countLabelStates, queryLabels } from '../../../functions/label/query.ts';
import { parseLabel, signingBytes } from '../../../functions/label/label.ts';
import { toRow } from '../../../functions/label/version.ts';
import { beforeMigration } from '../../helpers/migration-step.ts';
import { applyMigrations } from '../../../adapters/postgres/migrate.ts';
import { freePort } from '../../helpers/free-port.ts';
import { DependencyError } from '../../../functions/errors.ts';
import { silentLog } from '../../../functions/ports.ts';
import type { IdentityResolver as Resolver } from '../../../functions/atproto/identity/did-document.ts';
import type { JsonObject } from '../../../functions/events.ts';

const LABELER = 'did:plc:labelerlabelerlabelerxxx';
const OTHER_LABELER = 'did:plc:otherlabelerotherlabeler';
const KEYLESS = 'did:plc:keylesskeylesskeylessxxx';
const TRUSTED = 'did:plc:trustedtrustedtrustedxxx';
const UNKNOWN = 'did:plc:notregisterednotregister';
const HOST = 'mod.example';
const OTHER_HOST = 'other.example';
const POST = 'at://did:plc:authorauthorauthorauthor/app.bsky.feed.post/3kpost';
const ACCOUNT = 'did:plc:authorauthorauthorauthor';
const CID_A = 'bafyreihpbwrqsipbigarmwyqokkse4dtfpg3jkygvmizjp6anyopplx4om';
const CID_B = 'bafyreieznjaifhdvvsaohgg3pptul5mbmeqd6nijfittzzhftexpgcivxq';
const T0 = '2030-01-01T00:00:00.000Z';
const at = (minutes: number) => new Date(Date.parse(T0) + minutes * 60_000).toISOString();

let db: IndexDb;
let plc: FakePlc;
let redis: Awaited<ReturnType<typeof createTestRedis>>;
let labelKey: Keypair;
let repoKey: Keypair;
let otherKey: Keypair;
// The clock stands half an hour after T0: the labels below are dated from T0 on, and a cts more than 5 minutes ahead
// of the clock is refused (future_cts).
const START = Date.parse(T0) + 30 * 60_000;
let now = START;
const clock = { now: () => now };

beforeAll(async () => {
  db = await createIndexDb('label_fn');
  plc = await startFakePlc();
  redis = await createTestRedis('label_fn');
  [labelKey, repoKey, otherKey] = await Promise.all([labelKeypair('k256'), labelKeypair('k256'), labelKeypair('p256')]);
  plc.set(LABELER, labelerDoc({ did: LABELER, atproto: repoKey, label: labelKey, labeler: `https://${HOST}` }));
  plc.set(OTHER_LABELER, labelerDoc({ did: OTHER_LABELER, atproto: repoKey, label: otherKey, labeler: `https://${OTHER_HOST}` }));
  plc.set(KEYLESS, labelerDoc({ did: KEYLESS, atproto: repoKey, labeler: `https://${HOST}` }));
  plc.set(TRUSTED, labelerDoc({ did: TRUSTED, atproto: repoKey, label: otherKey, labeler: `https://${OTHER_HOST}` }));
  plc.set(ACCOUNT, labelerDoc({ did: ACCOUNT, atproto: repoKey }));
});

afterAll(async () => {
  await plc?.close();
  await redis?.cleanup();
  await db?.close();
});

let bundle: MetricsBundle;
let resolver: Resolver;
beforeEach(async () => {
  await db.sql.query('truncate label, label_version');
  now = START;
  bundle = createMetrics({ hosts: [], streams: [], labelHosts: [HOST], labelSources: [TRUSTED] });
  resolver = createIdentityResolver({ fetch: globalThis.fetch, plcUrl: plc.url, allowPrivate: true });
});

function ports(over: Partial<LabelPorts> = {}): LabelPorts {
  return { sql: db.sql, clock, log: silentLog, metrics: bundle.metrics, identity: resolver, trustedSources: new Set([TRUSTED]), ...over };
}

function entry(value: unknown): LabelEntry {
  const parsed = parseLabelItem(value);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.value;
}

async function signed(fields: Partial<LabelFields> & { val: string; cts: string }, key: Keypair = labelKey, host = HOST): Promise<LabelEntry> {
  return entry(labelEvent(host, await signLabel(key, { ver: 1, src: LABELER, uri: POST, ...fields })));
}

async function inForce(patterns: string[] = ['*'], extra: { sources?: string[]; limit?: number; cursor?: string } = {}) {
  return (await queryLabels(db.sql, clock, { uriPatterns: patterns, limit: extra.limit ?? 250, ...extra })).labels;
}

async function metric(text: string): Promise<number> {
  const exposition = await bundle.registry.metrics();
  const line = exposition.split('\n').find((l) => l.startsWith(`${text} `));
  return line === undefined ? NaN : Number(line.split(' ').at(-1));
}

/** The entry as the TypeScript pipeline before us wrote it: no labeler host. */
const hostless = (e: ReturnType<typeof labelEvent>): { type: 'label'; label: JsonObject } => ({ type: 'label', label: e.label });

describe('rows and what is in force', () => {
  it('stores a negation as a row, and a negation with another cid still takes the label down', async () => {
    await labelBatch([await signed({ cid: CID_A, val: 'spam', cts: at(1) })], ports());
    expect((await inForce()).map((l) => [l['uri'], l['cid'], l['val']])).toEqual([[POST, CID_A, 'spam']]);
    // The post was edited; the moderator negates against the new cid (the TS pipeline kept the takedown active here).
    const result = await labelBatch([await signed({ cid: CID_B, val: 'spam', neg: true, cts: at(2) })], ports());
    expect(result.verdicts).toEqual([[{ status: 'negation', src: LABELER }]]);
    expect(await db.sql.query('select cid, neg from label order by neg')).toEqual([{ cid: CID_A, neg: false }, { cid: CID_B, neg: true }]);
    expect(await inForce()).toEqual([]);
    // Relabelled later against the new cid: in force again, with that cid.
    await labelBatch([await signed({ cid: CID_B, val: 'spam', cts: at(3) })], ports());
    const labels = await inForce();
    expect(labels).toHaveLength(1);
    expect(labels[0]).toMatchObject({ ver: 1, src: LABELER, uri: POST, cid: CID_B, val: 'spam', cts: at(3) });
    expect(labels[0]!['neg']).toBeUndefined();
    expect(await metric(`skytide_labels_total{host="${HOST}",outcome="label"}`)).toBe(2);
    expect(await metric(`skytide_labels_total{host="${HOST}",outcome="negation"}`)).toBe(1);
    expect(await metric(`skytide_labels_by_source_total{src="${LABELER}",outcome="negation"}`)).toBe(1);
  });

  it('lets the newest cts decide in any arrival order, a negation winning a tie; an older label changes nothing', async () => {
    const late = await signed({ val: 'rude', uri: ACCOUNT, cts: at(10) });
    const early = await signed({ val: 'rude', uri: ACCOUNT, neg: true, cts: at(5) });
    await labelBatch([late], ports());
    const older = await labelBatch([early], ports());
    // Same (src, uri, cid, val) row, older cts: the stored label stays as it is.
    expect(older.changed).toBe(0);
    expect((await inForce()).map((l) => l['val'])).toEqual(['rude']);
    const tie = await signed({ val: 'rude', uri: ACCOUNT, neg: true, cts: at(10) });
    await labelBatch([tie], ports());
    expect(await inForce()).toEqual([]);
    expect(await db.sql.query(`select cid, neg, cts from label`)).toEqual([{ cid: '', neg: true, cts: at(10) }]);
  });

  it('decides expiry at read time by the clock: the row stays, the label leaves when its exp passes', async () => {
    await labelBatch([await signed({ val: '!warn', uri: ACCOUNT, cts: at(0), exp: at(60) })], ports());
    expect((await inForce()).map((l) => [l['val'], l['exp']])).toEqual([['!warn', at(60)]]);
    expect(await countLabelStates(db.sql, clock)).toMatchObject({ inForce: 1, expired: 0, negated: 0 });
    now = Date.parse(at(61));
    expect(await inForce()).toEqual([]);
    expect(await countLabelStates(db.sql, clock)).toMatchObject({ inForce: 0, expired: 1, negated: 0 });
    expect(await db.sql.query('select count(*)::int as n from label')).toEqual([{ n: 1 }]);
    // An expired newest label is not replaced by an older one without exp: the newest decides.
    await labelBatch([await signed({ val: '!warn', uri: ACCOUNT, cid: undefined, cts: at(-5) })], ports());
    expect(await inForce()).toEqual([]);
  });

  it('answers uriPatterns, sources and limit as the lexicon says, paged by cursor', async () => {
    const entries: LabelEntry[] = [];
    for (let i = 0; i < 5; i++) entries.push(await signed({ uri: `${POST}${i}`, val: 'spam', cts: at(i) }));
    entries.push(await signed({ uri: ACCOUNT, val: 'rude', cts: at(9) }));
    entries.push(entry(hostless(labelEvent(OTHER_HOST, { src: TRUSTED, uri: ACCOUNT, val: 'trusted-one', cts: at(9) }))));
    await labelBatch(entries, ports());
    expect((await inForce([ACCOUNT])).map((l) => l['val']).sort()).toEqual(['rude', 'trusted-one']);
    expect((await inForce([ACCOUNT], { sources: [TRUSTED] })).map((l) => l['val'])).toEqual(['trusted-one']);
    expect((await inForce([`${POST}*`])).map((l) => l['uri'])).toEqual([0, 1, 2, 3, 4].map((i) => `${POST}${i}`));
    // Prefix characters that mean something to LIKE match only themselves.
    expect(await inForce(['at://did:plc:author%*'])).toEqual([]);
    const pages: string[][] = [];
    let cursor: string | undefined;
    do {
      const page = await queryLabels(db.sql, clock, { uriPatterns: ['*'], limit: 3, ...(cursor === undefined ? {} : { cursor }) });
      pages.push(page.labels.map((l) => `${String(l['uri'])} ${String(l['val'])}`));
      cursor = page.cursor;
    } while (cursor !== undefined);
    expect(pages.map((p) => p.length)).toEqual([3, 3, 1]);
    expect(pages.flat()).toEqual((await inForce()).map((l) => `${String(l['uri'])} ${String(l['val'])}`));
  });

  it('reads back every label exactly as signed: the answer verifies', async () => {
    const label = await signLabel(labelKey, { ver: 1, src: LABELER, uri: POST, cid: CID_A, val: 'spam', cts: '2030-01-01T01:00:00.123456+01:00', exp: '2031-01-01T00:00:00Z' });
    await labelBatch([entry(labelEvent(HOST, label))], ports());
    expect(await inForce()).toEqual([labelJson(label)]);
  });

  it('reads back a label signed with an explicit neg:false as signed: the answer verifies', async () => {
    // The spec allows `neg: false`; older Ozone and other labeler libraries sign it, and it is part of the signed bytes.
    const label = await signLabel(labelKey, { ver: 1, src: LABELER, uri: POST, val: 'spam', neg: false, cts: at(1) });
    expect((await labelBatch([entry(labelEvent(HOST, label))], ports())).verdicts).toEqual([[{ status: 'label', src: LABELER }]]);
    // The AppView's column still says what it always says.
    expect(await db.sql.query('select neg from label')).toEqual([{ neg: false }]);
    const answer = await inForce();
    const parsed = parseLabel(answer[0]);
    if (!parsed.ok) throw new Error(parsed.message);
    expect(await verifySignature(labelKey.did(), signingBytes(parsed.label), parsed.label.sig!, { allowMalleableSig: false })).toBe(true);
    expect(answer).toEqual([labelJson(label)]);
  });

  it('keeps one row for an unsigned label with and without neg:false, whichever came first', async () => {
    // Nothing but the presence of `neg` tells them apart (no signature does): the order must still be total.
    const bare = entry(hostless(labelEvent(OTHER_HOST, { src: TRUSTED, uri: ACCOUNT, val: 'trusted-one', cts: at(1) })));
    const named = entry(hostless(labelEvent(OTHER_HOST, { src: TRUSTED, uri: ACCOUNT, val: 'trusted-one', neg: false, cts: at(1) })));
    const outcomes: unknown[] = [];
    for (const order of [[bare, named], [named, bare]]) {
      await db.sql.query('truncate label, label_version');
      for (const e of order) await labelBatch([e], ports());
      outcomes.push(await inForce());
    }
    expect(outcomes[0]).toEqual([{ src: TRUSTED, uri: ACCOUNT, val: 'trusted-one', neg: false, cts: at(1) }]);
    expect(outcomes[1]).toEqual(outcomes[0]);
  });
});

describe('labels that do not come from their source are rejected and counted, never stored', () => {
  it('unsigned, forged, signed with #atproto, from another labeler, keyless, malformed, dated in the future, and signed without ver', async () => {
    const cases: [LabelEntry, string][] = [
      [entry(labelEvent(HOST, { ver: 1, src: LABELER, uri: POST, val: 'unsigned', cts: at(1) })), 'unsigned_label'],
      [await signed({ val: 'forged', cts: at(1) }, otherKey), 'bad_signature'],
      // The #atproto key signs repos, never labels (label spec: no fallback).
      [await signed({ val: 'repo-key', cts: at(1) }, repoKey), 'bad_signature'],
      // Validly signed by OTHER_LABELER, but read from our labeler's host: it may not speak for another.
      [entry(labelEvent(HOST, await signLabel(otherKey, { ver: 1, src: OTHER_LABELER, uri: POST, val: 'relayed', cts: at(1) }))), 'wrong_labeler'],
      // A src that runs no labeler at all.
      [entry(labelEvent(HOST, await signLabel(repoKey, { ver: 1, src: ACCOUNT, uri: POST, val: 'self', cts: at(1) }))), 'wrong_labeler'],
      [await signed({ val: 'elsewhere', cts: at(1) }, labelKey, OTHER_HOST), 'wrong_labeler'],
      [entry(labelEvent(HOST, await signLabel(labelKey, { ver: 1, src: KEYLESS, uri: POST, val: 'keyless', cts: at(1) }))), 'no_label_key'],
      [entry(labelEvent(HOST, { ver: 1, src: LABELER, uri: POST, val: 'x', cts: 'yesterday' })), 'invalid_label'],
      // Signed, but its cts days ahead of our clock: it would outrank every later label of its (src, uri, val), and no
      // clock is that wrong (a few minutes or hours ahead only waits until due: below).
      [await signed({ val: 'from-the-future', cts: at(3 * 24 * 60) }, labelKey), 'future_cts'],
      [entry({ type: 'label', host: HOST, label: 'not an object' }), 'invalid_label'],
      // Validly signed, but over bytes without `ver`: not a version-1 label (label spec: `ver` is required and part of
      // the signed bytes), so not one we can judge. Trust does not help: the signature is there, over something else.
      [await signed({ ver: undefined, val: 'unversioned', cts: at(1) }), 'unversioned_label'],
      [entry(labelEvent(OTHER_HOST, await signLabel(otherKey, { src: TRUSTED, uri: ACCOUNT, val: 'unversioned', cts: at(1) }))), 'unversioned_label'],
    ];
    const result = await labelBatch(cases.map(([e]) => e), ports());
    expect(result.verdicts.map((v) => v.map((x) => (x.status === 'rejected' ? x.reason : x.status)))).toEqual(cases.map(([, r]) => [r]));
    // A verdict is not a failure: every entry is acknowledged.
    expect(result.outcomes.every((o) => o.status === 'ok')).toBe(true);
    expect(await db.sql.query('select count(*)::int as n from label')).toEqual([{ n: 0 }]);
    expect(await metric(`skytide_labels_rejected_total{host="${HOST}",reason="bad_signature"}`)).toBe(2);
    expect(await metric(`skytide_labels_rejected_total{host="${HOST}",reason="wrong_labeler"}`)).toBe(2);
    expect(await metric(`skytide_labels_rejected_total{host="${OTHER_HOST}",reason="wrong_labeler"}`)).toBe(1);
    expect(await metric(`skytide_labels_rejected_total{host="${HOST}",reason="unsigned_label"}`)).toBe(1);
    expect(await metric(`skytide_labels_rejected_total{host="${HOST}",reason="no_label_key"}`)).toBe(1);
    expect(await metric(`skytide_labels_rejected_total{host="${HOST}",reason="invalid_label"}`)).toBe(2);
    expect(await metric(`skytide_labels_rejected_total{host="${HOST}",reason="future_cts"}`)).toBe(1);
    expect(await metric(`skytide_labels_rejected_total{host="${HOST}",reason="unversioned_label"}`)).toBe(1);
    expect(await metric(`skytide_labels_rejected_total{host="${OTHER_HOST}",reason="unversioned_label"}`)).toBe(1);
    expect(await metric(`skytide_labels_total{host="${HOST}",outcome="rejected"}`)).toBe(10);
  });

  it('follows a key rotation: the cached document is refreshed once, new-key labels pass, old-key ones fail', async () => {
    const cached = withRedisCache(createIdentityResolver({ fetch: globalThis.fetch, plcUrl: plc.url, allowPrivate: true }), { redis: redis.redis, prefix: redis.prefix, log: silentLog });
    const p = ports({ identity: cached });
    await labelBatch([await signed({ val: 'before', cts: at(1) })], p);
    const rotated = await labelKeypair('p256');
    plc.set(LABELER, labelerDoc({ did: LABELER, atproto: repoKey, label: rotated, labeler: `https://${HOST}` }));
    onTestFinished(() => plc.set(LABELER, labelerDoc({ did: LABELER, atproto: repoKey, label: labelKey, labeler: `https://${HOST}` })));
    const before = plc.requests.get(LABELER) ?? 0;
    // The cache still holds the old document: the first check fails, the refetch finds the new key.
    const result = await labelBatch(
      [await signed({ val: 'after', cts: at(2) }, rotated), await signed({ val: 'after-2', cts: at(2) }, rotated), await signed({ val: 'old-key', cts: at(3) }, labelKey)],
      p,
    );
    expect(result.verdicts.map((v) => v[0]!.status === 'rejected' ? v[0]!.reason : v[0]!.status)).toEqual(['label', 'label', 'bad_signature']);
    expect((plc.requests.get(LABELER) ?? 0) - before).toBe(1);
    expect((await inForce()).map((l) => l['val']).sort()).toEqual(['after', 'after-2', 'before']);
    expect(await db.sql.query('select val, "signingKey" from label_version order by val')).toEqual([
      { val: 'after', signingKey: rotated.did() },
      { val: 'after-2', signingKey: rotated.did() },
      { val: 'before', signingKey: labelKey.did() },
    ]);
    // In a later batch the cache holds the new key: an old-key label fails, is refetched once more, and fails.
    const later = await labelBatch([await signed({ val: 'old-key-later', cts: at(4) }, labelKey)], p);
    expect(later.verdicts[0]![0]).toMatchObject({ status: 'rejected', reason: 'bad_signature' });
  });
});

describe('LABEL_TRUSTED_SOURCES and the entries of the pipelines before us', () => {
  it('accepts a trusted source unsigned or from another host, counting each; rsky entries only from trusted sources', async () => {
    const rsky = entry({ seq: 7, labels: [
      { src: TRUSTED, uri: POST, cid: null, val: 'from-rsky', neg: null, cts: '2030-01-01 00:01:00.500 UTC' },
      { src: LABELER, uri: POST, cid: null, val: 'untrusted-rsky', neg: null, cts: '2030-01-01 00:01:00 UTC' },
    ] });
    const relayed = entry(labelEvent(HOST, await signLabel(otherKey, { ver: 1, src: TRUSTED, uri: ACCOUNT, val: 'relayed', cts: at(1) })));
    const forgedTrusted = entry(labelEvent(OTHER_HOST, await signLabel(labelKey, { ver: 1, src: TRUSTED, uri: ACCOUNT, val: 'forged', cts: at(1) })));
    const result = await labelBatch([rsky, relayed, forgedTrusted], ports());
    expect(result.verdicts).toEqual([
      [{ status: 'label', src: TRUSTED, trusted: 'unsigned' }, { status: 'rejected', reason: 'unsigned_label', message: expect.any(String) }],
      [{ status: 'label', src: TRUSTED, trusted: 'other_host' }],
      // Trust skips what a source cannot offer, never a signature that is there and wrong.
      [{ status: 'rejected', reason: 'bad_signature', message: expect.any(String) }],
    ]);
    expect((await inForce()).map((l) => [l['val'], l['cts']])).toEqual([['from-rsky', '2030-01-01T00:01:00.500Z'], ['relayed', at(1)]]);
    expect(await metric(`skytide_labels_trusted_total{src="${TRUSTED}",why="unsigned"}`)).toBe(1);
    expect(await metric(`skytide_labels_trusted_total{src="${TRUSTED}",why="other_host"}`)).toBe(1);
    expect(await metric(`skytide_labels_rejected_total{host="unknown",reason="unsigned_label"}`)).toBe(1);
  });

  // Found in review: a signed label with a 4 KB uri passed the parse and failed its whole batch in Postgres (a B-tree
  // key is at most 2,704 bytes), then went to the DLQ with the good labels beside it. The longest uri and src the
  // parse lets through are stored.
  it('stores a label whose uri is as long as the parse allows', async () => {
    const uri = `at://did:plc:x/app.bsky.feed.post/${'a'.repeat(2048 - 'at://did:plc:x/app.bsky.feed.post/'.length)}`;
    const result = await labelBatch([await signed({ uri, val: 'x'.repeat(128), cid: CID_A, cts: at(1) })], ports());
    expect(result.verdicts).toEqual([[{ status: 'label', src: LABELER }]]);
  });

  // Found in review: an unsigned label was accepted for a trusted source whatever host it was read from, so any
  // labeler we follow could forge one, or a negation taking the trusted source's label down.
  it('refuses an unsigned label in a trusted source\'s name read from a labeler host; the signed one stands', async () => {
    const real = entry(labelEvent(OTHER_HOST, await signLabel(otherKey, { ver: 1, src: TRUSTED, uri: ACCOUNT, val: '!takedown', cts: at(1) })));
    const forged = entry(labelEvent(HOST, { src: TRUSTED, uri: ACCOUNT, val: '!takedown', neg: true, cts: at(2) }));
    const result = await labelBatch([real, forged], ports());
    expect(result.verdicts[1]).toEqual([{ status: 'rejected', reason: 'unsigned_label', message: expect.stringContaining('only entries that name no host') }]);
    expect((await inForce([ACCOUNT])).map((l) => l['val'])).toEqual(['!takedown']);
  });
});

describe('identity: an outage is waited out, a DID that cannot be had is deferred', () => {
  it('throws a DependencyError while the PLC directory is down, and rejects nothing', async () => {
    plc.down = true;
    try {
      await expect(labelBatch([await signed({ val: 'during-outage', cts: at(1) })], ports())).rejects.toBeInstanceOf(DependencyError);
    } finally {
      plc.down = false;
    }
    expect(await metric(`skytide_labels_total{host="${HOST}",outcome="rejected"}`)).toBe(0);
    const after = await labelBatch([await signed({ val: 'during-outage', cts: at(1) })], ports());
    expect(after.verdicts).toEqual([[{ status: 'label', src: LABELER }]]);
  });

  it('waits (no delivery counted) on a label whose did:web source cannot be reached, and still judges the others', async () => {
    // The source's own host refusing connections is that host's outage, not a verdict on its labels: `wait` keeps the
    // entry without bringing it closer to label_live_dlq (a `retry` would dead-letter it after INDEXER_MAX_ATTEMPTS).
    const down = `did:web:localhost%3A${await freePort()}`;
    const result = await labelBatch([
      entry(labelEvent(HOST, await signLabel(labelKey, { ver: 1, src: down, uri: POST, val: 'x', cts: at(1) }))),
      entry(labelEvent(HOST, await signLabel(labelKey, { ver: 1, src: UNKNOWN, uri: POST, val: 'x', cts: at(1) }))),
      await signed({ val: 'fine', cts: at(1) }),
    ], ports());
    expect(result.outcomes).toEqual([
      // `on` names the source waited on: the consumer parks the entry per that source's host (label-parking.ts).
      { status: 'wait', reason: 'identity_failed', message: expect.stringContaining(down), on: down },
      { status: 'retry', reason: 'identity_failed', message: expect.stringContaining('HTTP 404') },
      { status: 'ok' },
    ]);
    expect(result.verdicts[0]).toEqual([{ status: 'retry', reason: 'identity_failed', message: expect.any(String), wait: true }]);
    expect((await inForce()).map((l) => l['val'])).toEqual(['fine']);
  });

  it('waits (no delivery counted) with a label whose cts is ahead of our clock, naming its source and when it is due, then stores it once due', async () => {
    // A labeler whose clock runs 40 minutes ahead: its label and the negation after it are stamped by that clock.
    const ahead = await signed({ val: 'ahead', cts: at(30 + 40) });
    const fine = await signed({ val: 'fine', cts: at(1) });
    const first = await labelBatch([ahead, fine], ports());
    // Due once our clock is within the allowed drift (5 minutes) of its cts: the caller parks it until then.
    const dueMs = Date.parse(at(70)) - 5 * 60_000;
    expect(first.outcomes).toEqual([
      { status: 'wait', reason: 'label_not_due', message: expect.stringContaining('waits until due'), on: notDueOn(LABELER, dueMs) },
      { status: 'ok' },
    ]);
    expect(parseNotDueOn(notDueOn(LABELER, dueMs))).toEqual({ src: LABELER, dueMs });
    expect((await inForce()).map((l) => l['val'])).toEqual(['fine']);
    expect(await metric(`skytide_labels_rejected_total{host="${HOST}",reason="future_cts"}`)).toBe(0);
    expect(await metric(`skytide_labels_total{host="${HOST}",outcome="retry"}`)).toBe(1);
    // Only a label that would be stored waits: one unsigned or forged is judged now, due or not.
    const judged = await labelBatch([
      entry(labelEvent(HOST, { ver: 1, src: LABELER, uri: POST, val: 'unsigned-ahead', cts: at(70) })),
      await signed({ val: 'forged-ahead', cts: at(70) }, otherKey),
    ], ports());
    expect(judged.verdicts.map((v) => v.map((x) => (x.status === 'rejected' ? x.reason : x.status)))).toEqual([['unsigned_label'], ['bad_signature']]);
    expect(judged.outcomes).toEqual([{ status: 'ok' }, { status: 'ok' }]);
    // A label waiting on a host and one not due in one entry (as an entry of several labels could hold them): the
    // entry is parked on the host's source.
    const down = `did:web:localhost%3A${await freePort()}`;
    const mixed = await labelBatch([{ form: 'event', host: HOST, labels: [
      labelJson(await signLabel(labelKey, { ver: 1, src: LABELER, uri: POST, val: 'ahead-too', cts: at(30 + 40) })),
      labelJson(await signLabel(labelKey, { ver: 1, src: down, uri: POST, val: 'x', cts: at(1) })),
    ] }], ports());
    expect(mixed.outcomes).toEqual([{ status: 'wait', reason: 'identity_failed', message: expect.stringContaining(down), on: down }]);
    // 36 minutes on, its cts is within the allowed drift: stored as signed, and it outranks the labels before it.
    now = START + 36 * 60_000;
    const later = await labelBatch([ahead], ports());
    expect(later.outcomes).toEqual([{ status: 'ok' }]);
    expect((await inForce()).map((l) => [l['val'], l['cts']])).toEqual([['ahead', at(70)], ['fine', at(1)]]);
  });

  it('defers (retry, identity_failed) a label whose source the directory does not know', async () => {
    const result = await labelBatch([entry(labelEvent(HOST, await signLabel(labelKey, { ver: 1, src: UNKNOWN, uri: POST, val: 'x', cts: at(1) })))], ports());
    expect(result.outcomes).toEqual([{ status: 'retry', reason: 'identity_failed', message: expect.stringContaining('HTTP 404') }]);
    expect(await metric(`skytide_labels_total{host="${HOST}",outcome="retry"}`)).toBe(1);
  });
});

describe('replay', () => {
  it('changes nothing: the same entries again, in reverse, write no row', async () => {
    const entries = [
      await signed({ cid: CID_A, val: 'spam', cts: at(1) }),
      await signed({ cid: CID_B, val: 'spam', neg: true, cts: at(2) }),
      await signed({ uri: ACCOUNT, val: 'rude', cts: at(3), exp: at(100) }),
      await signed({ uri: ACCOUNT, val: 'rude', cts: at(3), exp: at(100) }),
    ];
    const first = await labelBatch(entries, ports());
    expect(first.changed).toBe(3);
    const dump = await db.sql.query('select * from label order by src, uri, cid, val');
    expect((await labelBatch([...entries].reverse(), ports())).changed).toBe(0);
    expect(await db.sql.query('select * from label order by src, uri, cid, val')).toEqual(dump);
  });
});

describe('migration 0011', () => {
  it('reads rows written before it as then (neg only when true), and a replay signed with neg:false repairs its row', async () => {
    await beforeMigration('0011_label_neg_signed.sql', async (sql, migrate) => {
      const label = await signLabel(labelKey, { ver: 1, src: LABELER, uri: POST, val: 'spam', neg: false, cts: at(1) });
      const negation = await signLabel(labelKey, { ver: 1, src: LABELER, uri: ACCOUNT, val: 'rude', neg: true, cts: at(1) });
      // As skytide stored both before 0011: `neg` as a boolean, nothing said of its presence.
      for (const l of [label, negation]) {
        await sql.query(`insert into label (src, uri, cid, val, neg, cts, ver, sig, "signingKey", "ctsKey")
          values ($1, $2, '', $3, $4, $5, 1, decode($6, 'hex'), $7, $8)`, [l.src, l.uri, l.val, l.neg === true, l.cts, Buffer.from(l.sig).toString('hex'), labelKey.did(), toRow(l).ctsKey]);
      }
      expect(await migrate()).toEqual(['0011_label_neg_signed.sql']);
      // The migrations after it too: today's code reads the columns as they are named now (0014).
      await applyMigrations(sql);
      const read = async () => (await queryLabels(sql, clock, { uriPatterns: ['*'], limit: 250 })).labels;
      const { neg: _, ...withoutNeg } = labelJson(label);
      expect(await read()).toEqual([withoutNeg]);
      // The negation's row compares as the same version (a replay changes nothing); the label's as an older one.
      const replay = await labelBatch([entry(labelEvent(HOST, negation)), entry(labelEvent(HOST, label))], ports({ sql }));
      expect(replay.changed).toBe(1);
      expect(await read()).toEqual([labelJson(label)]);
    });
  });
});
