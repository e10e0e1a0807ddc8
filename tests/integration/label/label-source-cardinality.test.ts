// A labeler mints as many DIDs as it likes (a did:plc each, or a did:web per subdomain), each naming it as its
// #atproto_labeler and signing with its own key: every label verifies, and each new `src` was a new series of
// skytide_labels_by_source_total, without bound (Prometheus' memory and every scrape growing with a hostile labeler's
// whim). Undeclared values of a label filled from configuration are admitted up to a bound, the rest counted as
// `other`: the counts stay whole, the series bounded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Keypair } from '@atproto/crypto';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { labelerDoc, startFakePlc, type FakePlc } from '../../helpers/fake-plc.ts';
import { labelEvent, labelKeypair, signLabel } from '../../helpers/labels.ts';
import { createIdentityResolver } from '../../../adapters/identity/resolver.ts';
import { createMetrics, MAX_UNDECLARED_LABEL_VALUES } from '../../../adapters/observability/metrics.ts';
import { labelBatch } from '../../../functions/label/handler.ts';
import { parseLabelItem, type LabelEntry } from '../../../functions/label/entry.ts';
import { silentLog } from '../../../functions/ports.ts';

const HOST = 'mod.example';
const TRUSTED = 'did:plc:trustedtrustedtrustedxxx';
const POST = 'at://did:plc:authorauthorauthorauthor/app.bsky.feed.post/3kpost';
const B32 = 'abcdefghijklmnopqrstuvwxyz234567';
/** The i-th minted DID: 24 base32 characters. */
const minted = (i: number) => `did:plc:mintedmintedmintedm${[4, 3, 2, 1, 0].map((k) => B32[Math.floor(i / 32 ** k) % 32]).join('')}`;

let db: IndexDb;
let plc: FakePlc;
let labelKey: Keypair;
let repoKey: Keypair;
const SOURCES = MAX_UNDECLARED_LABEL_VALUES + 50;

beforeAll(async () => {
  db = await createIndexDb('label_src_cardinality');
  plc = await startFakePlc();
  [labelKey, repoKey] = await Promise.all([labelKeypair('k256'), labelKeypair('k256')]);
  for (let i = 0; i < SOURCES; i++) plc.set(minted(i), labelerDoc({ did: minted(i), atproto: repoKey, label: labelKey, labeler: `https://${HOST}` }));
});
afterAll(async () => {
  await plc?.close();
  await db?.close();
});

describe('labels from many minted sources of one labeler', () => {
  it('are all stored and counted, in a bounded number of series', async () => {
    const bundle = createMetrics({ hosts: [], streams: [], labelHosts: [HOST], labelSources: [TRUSTED] });
    const entries: LabelEntry[] = [];
    for (let i = 0; i < SOURCES; i++) {
      const parsed = parseLabelItem(labelEvent(HOST, await signLabel(labelKey, { ver: 1, src: minted(i), uri: POST, val: 'spam', cts: '2026-01-01T00:00:00.000Z' })));
      if (!parsed.ok) throw new Error(parsed.message);
      entries.push(parsed.value);
    }
    const result = await labelBatch(entries, {
      sql: db.sql, clock: { now: () => Date.parse('2026-01-01T01:00:00.000Z') }, log: silentLog, metrics: bundle.metrics,
      identity: createIdentityResolver({ fetch: globalThis.fetch, plcUrl: plc.url, allowPrivate: true }), trustedSources: new Set([TRUSTED]),
    });
    expect(result.verdicts.flat().filter((v) => v.status === 'label')).toHaveLength(SOURCES);
    const series = (await bundle.registry.metrics()).split('\n').filter((l) => l.startsWith('skytide_labels_by_source_total{') && l.includes('outcome="label"'));
    const counts = new Map(series.map((l) => [/src="([^"]*)"/.exec(l)![1]!, Number(l.split(' ').at(-1))]));
    // The declared source at zero, the first sources seen each, then `other` for the rest: nothing lost.
    expect(counts.size).toBe(1 + MAX_UNDECLARED_LABEL_VALUES + 1);
    expect(counts.get(TRUSTED)).toBe(0);
    expect(counts.get('other')).toBe(SOURCES - MAX_UNDECLARED_LABEL_VALUES);
    expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(SOURCES);
  });
});
