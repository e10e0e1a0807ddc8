// A hostile labeler on loopback, followed like any other: forged signatures, a label whose src is another labeler, an
// unsigned label, malformed frames, a key rotated mid-stream, a lower seq. Each forged label is counted under its
// reason and absent from queryLabels; the good ones arrive. The subscriber and the label consumer run as
// `skytide run --only labels,label` wires them (buildTasks), against the real identity resolver and a PLC stand-in.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Keypair } from '@atproto/crypto';
import { parseConfig } from '../../../adapters/config/parse.ts';
import { createResources, type Resources } from '../../../long-runners/cli/resources.ts';
import { buildTasks } from '../../../long-runners/cli/tasks.ts';
import { GROUPS, hostKey, STREAMS } from '../../../adapters/redis/keys.ts';
import { queryLabels } from '../../../functions/label/query.ts';
import { encodeCbor } from '../../../functions/atproto/cbor.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { createTestRedis } from '../../helpers/services.ts';
import { labelerDoc, startFakePlc, type FakePlc } from '../../helpers/fake-plc.ts';
import { labelKeypair, labelsFrame, messageFrame, signLabel, type LabelFields } from '../../helpers/labels.ts';
import { startHostileLabeler, type HostileLabeler } from '../../../long-runners/dev/hostile-labeler.ts';
import { readSeqCursor } from '../../../adapters/redis/cursor-store.ts';
import { waitFor } from '../../helpers/wait.ts';

const HOSTILE = 'did:plc:hostilehostilehostilehos';
const VICTIM = 'did:plc:victimlabelervictimlabel';
const SUBJECT = 'at://did:plc:subjectsubjectsubjectsub/app.bsky.feed.post/1';

let db: IndexDb;
let plc: FakePlc;
let redis: Awaited<ReturnType<typeof createTestRedis>>;
let labeler: HostileLabeler;
let r: Resources;
let hostileKey: Keypair;
let repoKey: Keypair;
let victimKey: Keypair;
const controller = new AbortController();
let running: Promise<unknown>[] = [];

beforeAll(async () => {
  db = await createIndexDb('hostile_labeler');
  redis = await createTestRedis('hostile_labeler');
  plc = await startFakePlc();
  labeler = await startHostileLabeler();
  [hostileKey, repoKey, victimKey] = await Promise.all([labelKeypair(), labelKeypair(), labelKeypair('p256')]);
  plc.set(HOSTILE, labelerDoc({ did: HOSTILE, atproto: repoKey, label: hostileKey, labeler: labeler.host }));
  plc.set(VICTIM, labelerDoc({ did: VICTIM, atproto: repoKey, label: victimKey, labeler: 'https://victim.example' }));
  const { config } = parseConfig({
    REDIS_KEY_PREFIX: redis.prefix,
    DATABASE_URL: db.url,
    PLC_URL: plc.url,
    IDENTITY_ALLOW_PRIVATE: 'true',
    INGESTER_LABELER_HOSTS: labeler.host,
    INDEXER_CONCURRENCY: '1',
    INDEXER_CONSUMER: 'hostile',
    LOG_LEVEL: 'error',
  });
  r = createResources(config, 'hostile-labeler-test');
  running = buildTasks(r, ['labels', 'label']).map((t) => t.run(controller.signal));
});

afterAll(async () => {
  controller.abort();
  await Promise.allSettled(running);
  await r?.close();
  await labeler?.close();
  await plc?.close();
  await redis?.cleanup();
  await db?.close();
});

const label = (val: string, extra: Partial<LabelFields> = {}): LabelFields => ({ ver: 1, src: HOSTILE, uri: SUBJECT, val, cts: '2026-01-01T00:00:00Z', ...extra });

async function processed(seq: number): Promise<void> {
  const stream = r.keys.stream(STREAMS.labelLive);
  await waitFor(
    async () => ({
      cursor: (await readSeqCursor(redis.redis, r.keys.cursor(STREAMS.labelLive, labeler.host))) ?? 0,
      length: await redis.redis.xlen(stream),
      pending: await redis.redis.xpending(stream, GROUPS.label).then((p) => Number((p as [number])[0]), () => -1),
    }),
    (s) => s.cursor >= seq && s.length === 0 && s.pending === 0,
    `frames up to seq ${seq} to be processed`,
  );
}

describe('a hostile labeler', () => {
  it('gets only its good labels in; every forgery is counted under its reason', async () => {
    labeler.append(labelsFrame(1, [await signLabel(hostileKey, label('good-1'))]));
    labeler.append(labelsFrame(2, [await signLabel(await labelKeypair(), label('forged-signature'))]));
    // Validly signed, by another labeler: a labeler we follow may not speak for another.
    labeler.append(labelsFrame(3, [await signLabel(victimKey, label('impersonated', { src: VICTIM }))]));
    labeler.append(labelsFrame(4, [label('unsigned')]));
    labeler.append(new Uint8Array([0xa2, 0x62, 0x6f, 0x70, 0x01])); // a header cut short: not a frame
    labeler.append(messageFrame('#labels', { seq: 5, labels: ['not a label', 7] }));
    labeler.append(messageFrame('#info', { name: 'OutdatedCursor' }));
    labeler.append(new Uint8Array([...encodeCbor({ op: 1, t: '#mystery' }), ...encodeCbor({ seq: 6 })]));
    await processed(5);

    // The labeler rotates its key mid-stream: new-key labels pass (its document is fetched again once); labels
    // still signed with the retired key do not.
    const rotated = await labelKeypair('p256');
    plc.set(HOSTILE, labelerDoc({ did: HOSTILE, atproto: repoKey, label: rotated, labeler: labeler.host }));
    labeler.append(labelsFrame(7, [await signLabel(rotated, label('good-after-rotation'))]));
    labeler.append(labelsFrame(8, [await signLabel(hostileKey, label('retired-key'))]));
    // A lower seq, replayed with a label that would pass: never behind the cursor.
    labeler.append(labelsFrame(3, [await signLabel(rotated, label('lower-seq'))]));
    labeler.append(labelsFrame(9, [await signLabel(rotated, label('good-last'))]));
    await processed(9);

    const { labels } = await queryLabels(db.sql, r.ports.clock, { uriPatterns: ['*'], limit: 250 });
    expect(labels.map((l) => l['val']).sort()).toEqual(['good-1', 'good-after-rotation', 'good-last']);
    const host = hostKey(labeler.host);
    const metrics = await r.metrics.registry.metrics();
    expect(metrics).toContain(`skytide_labels_rejected_total{host="${host}",reason="bad_signature"} 2`);
    expect(metrics).toContain(`skytide_labels_rejected_total{host="${host}",reason="wrong_labeler"} 1`);
    expect(metrics).toContain(`skytide_labels_rejected_total{host="${host}",reason="unsigned_label"} 1`);
    expect(metrics).toContain(`skytide_labels_total{host="${host}",outcome="label"} 3`);
    // The subscriber counts a frame dropped for its seq among the invalid ones too: the cut-short header and seq 3.
    const frames = (kind: string) => `skytide_label_frames_total{host="${host}",kind="${kind}"}`;
    expect(metrics).toContain(`${frames('sequenced')} 8`);
    expect(metrics).toContain(`${frames('invalid')} 2`);
    expect(metrics).toContain(`${frames('info')} 1`);
    expect(metrics).toContain(`${frames('ignored')} 1`);
    expect(metrics).toContain(`skytide_label_subscription_errors_total{host="${host}",reason="seq_not_increasing"} 1`);
    expect(metrics).toContain(`skytide_label_entries_total{host="${host}"} 7`);
    expect(await db.sql.query('select count(*)::int as n from label')).toEqual([{ n: 3 }]);
  });
});
