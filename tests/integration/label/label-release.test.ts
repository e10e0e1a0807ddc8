// The parking of label_live entries and their release (adapters/redis/label-parking.ts, long-runners/labels/
// label-release.ts) on the real Redis, with the real identity resolver asking two did:web hosts on loopback: one that
// answers, one that refuses connections.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestRedis } from '../../helpers/services.ts';
import { createKeySpace, GROUPS, STREAMS } from '../../../adapters/redis/keys.ts';
import { ensureGroup, readNew } from '../../../adapters/redis/consumer-group.ts';
import { createLabelParking, waitHost, type LabelParking } from '../../../adapters/redis/label-parking.ts';
import { createIdentityResolver } from '../../../adapters/identity/resolver.ts';
import { releaseDue } from '../../../long-runners/labels/label-release.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { silentLog } from '../../../functions/ports.ts';
import { labelerDoc } from '../../helpers/fake-plc.ts';
import { labelKeypair } from '../../helpers/labels.ts';
import { freePort } from '../../helpers/free-port.ts';

let redis: Awaited<ReturnType<typeof createTestRedis>>;
let server: http.Server;
let up: string;
let down: string;
let parking: LabelParking;
const keys = () => createKeySpace(redis.prefix);

beforeAll(async () => {
  redis = await createTestRedis('label_release');
  const key = await labelKeypair();
  server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(labelerDoc({ did: up, atproto: key, label: key, labeler: 'http://127.0.0.1:1' })));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  up = `did:web:localhost%3A${(server.address() as AddressInfo).port}`;
  down = `did:web:localhost%3A${await freePort()}`;
  parking = createLabelParking(redis.redis, keys());
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await redis.cleanup();
});

const stream = () => keys().stream(STREAMS.labelLive);
const event = (val: string, src: string) => JSON.stringify({ type: 'label', host: 'labeler.example', label: { src, val } });

describe('parked label_live entries', () => {
  it('are parked once (a park sent again writes nothing), and released only from a host that answers, under the high-water mark', async () => {
    await ensureGroup(redis.redis, stream(), GROUPS.label);
    for (const [val, src] of [['a', up], ['b', down], ['c', up]] as const) await redis.redis.xadd(stream(), '*', 'event', event(val, src));
    const read = await readNew(redis.redis, stream(), GROUPS.label, 'c1', 10, 10);
    const entries = read.map((entry) => ({ entry, on: JSON.parse(entry.fields['event'] ?? '{}').label.src as string, from: 'labeler.example' }));
    expect((await parking.park(GROUPS.label, entries, 0)).length).toBe(3);
    // The same park again (ioredis resends it after a lost reply): nothing is pending any more, nothing is written.
    expect(await parking.park(GROUPS.label, entries, 0)).toEqual([]);
    expect(await redis.redis.xlen(stream())).toBe(0);
    expect(await parking.parkedFrom('labeler.example')).toBe(3);
    expect((await parking.due(Date.now(), 10)).sort()).toEqual([waitHost(up), waitHost(down)].sort());

    const metrics = createMetrics({ hosts: [], streams: [] });
    const options = { parking, identity: createIdentityResolver({ fetch: globalThis.fetch, plcUrl: 'http://127.0.0.1:1', allowPrivate: true }), recheckMaxMs: 60_000, log: silentLog, metrics: metrics.metrics };
    // label_live at its high-water mark: nothing is released (the consumers are behind).
    await redis.redis.xadd(stream(), '*', 'event', 'backlog');
    expect(await releaseDue({ ...options, highWaterMark: 1 })).toBe(0);
    expect(await parking.parkedFrom('labeler.example')).toBe(3);
    await redis.redis.xtrim(stream(), 'MAXLEN', 0);

    const now = Date.now();
    expect(await releaseDue({ ...options, highWaterMark: 100 }, now)).toBe(2);
    // The host that answers: its entries are back in label_live as they were, in order; it is no longer scheduled.
    const back = await redis.redis.xrange(stream(), '-', '+');
    expect(back.map(([, fields]) => fields)).toEqual([['event', event('a', up)], ['event', event('c', up)]]);
    expect(await metrics.registry.metrics()).toContain('skytide_labels_released_total 2');
    // The host still down keeps its entry, checked again later.
    expect(await parking.parkedFrom('labeler.example')).toBe(1);
    expect(await parking.due(now, 10)).toEqual([]);
    expect(Number(await redis.redis.zscore(keys().beside(STREAMS.labelLive, ':parked_hosts'), waitHost(down)))).toBeGreaterThan(now);
    expect(await redis.redis.zscore(keys().beside(STREAMS.labelLive, ':parked_hosts'), waitHost(up))).toBeNull();
  });
});
