// Labels in force, expired and negated for `skytide status`, `GET /` and the skytide_labels gauge: counted over every
// label, so cached. A scrape reads the cache and states its age; a count older than the limit is redone in the
// background, never on the scrape's time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLabelStatesCache } from '../../../adapters/postgres/label-states.ts';
import { parseConfig } from '../../../adapters/config/parse.ts';
import { createResources, type Resources } from '../../../long-runners/cli/resources.ts';
import { createStatusReader } from '../../../adapters/observability/pipeline-status.ts';
import { labelBatch } from '../../../functions/label/handler.ts';
import { parseLabelItem, type LabelEntry } from '../../../functions/label/entry.ts';
import { noMetrics, silentLog, type Clock } from '../../../functions/ports.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { createTestRedis } from '../../helpers/services.ts';
import { labelEvent } from '../../helpers/labels.ts';
import { waitFor } from '../../helpers/wait.ts';

const TRUSTED = 'did:plc:statestrustedstatestrust';
let db: IndexDb;
let redis: Awaited<ReturnType<typeof createTestRedis>>;
let now = Date.parse('2030-01-01T00:00:00Z');
const clock: Clock = { now: () => now };

beforeAll(async () => {
  db = await createIndexDb('label_states');
  redis = await createTestRedis('label_states');
});
afterAll(async () => {
  await redis?.cleanup();
  await db?.close();
});

function entry(val: string, extra: Record<string, unknown> = {}): LabelEntry {
  // Unsigned, so an entry naming no labeler host, as only those may be (verify-label.ts).
  const { label } = labelEvent('mod.example', { src: TRUSTED, uri: `did:plc:subject${val}subject`, val, cts: '2030-01-01T00:00:00Z', ...extra });
  const parsed = parseLabelItem({ type: 'label', label });
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.value;
}

async function store(entries: LabelEntry[]): Promise<void> {
  const identity = { resolve: () => Promise.reject(new Error('trusted sources are not resolved')) };
  await labelBatch(entries, { sql: db.sql, clock, log: silentLog, metrics: noMetrics, identity, trustedSources: new Set([TRUSTED]) });
}

describe('label states', () => {
  it('are counted once, then served from the cache with their age until they are older than the limit', async () => {
    await store([entry('a'), entry('b', { exp: '2030-01-01T01:00:00Z' }), entry('c', { neg: true })]);
    const cache = createLabelStatesCache({ sql: db.sql, clock, log: silentLog, maxAgeMs: 60_000 });
    expect(await cache.read()).toMatchObject({ inForce: 2, expired: 0, negated: 1, ageSeconds: 0, bySource: [{ src: TRUSTED, inForce: 2, expired: 0, negated: 1 }] });
    await store([entry('d')]);
    now += 30_000;
    // Within the limit: the old count, 30 s old, and no scan.
    expect(await cache.read()).toMatchObject({ inForce: 2, ageSeconds: 30 });
    now += 2 * 3600_000;
    // Past the limit: answered at once from the old count, recounted in the background.
    expect(await cache.read()).toMatchObject({ inForce: 2, ageSeconds: 7230 });
    await waitFor(() => cache.read(), (s) => s.ageSeconds === 0, 'the background recount');
    expect(await cache.read()).toMatchObject({ inForce: 2, expired: 1, negated: 1 });
  });

  it('appear in the status and the skytide_labels gauges', async () => {
    const { config } = parseConfig({ REDIS_KEY_PREFIX: redis.prefix, DATABASE_URL: db.url, LOG_LEVEL: 'error' });
    const r: Resources = createResources(config, 'label-states-test');
    try {
      const status = createStatusReader({ redis: r.redis(), sql: () => r.sql(), keys: r.keys, hosts: r.config.relayHosts, clock: r.ports.clock, log: r.log });
      const read = await status.read();
      expect(read.labels).toMatchObject({ inForce: expect.any(Number), expired: expect.any(Number), negated: 1, ageSeconds: expect.any(Number) });
      await status.refreshGauges(r.metrics.gauges);
      const exposition = await r.metrics.registry.metrics();
      expect(exposition).toContain('skytide_labels{state="negated"} 1');
      expect(exposition).toMatch(/skytide_labels_age_seconds \d+/);
    } finally {
      await r.close();
    }
  });
});
