// The parking of label_live entries and their release (adapters/redis/label-parking.ts, long-runners/labels/
// label-release.ts) on the real Redis, with the real identity resolver asking two did:web hosts on loopback: one that
// answers, one that refuses connections; and parking beside a key of the wrong type, refused whole.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestRedis } from '../../helpers/services.ts';
import { createKeySpace, GROUPS, STREAMS } from '../../../adapters/redis/keys.ts';
import { ensureGroup, readNew } from '../../../adapters/redis/consumer-group.ts';
import { createLabelParking, waitHost, type LabelParking } from '../../../adapters/redis/label-parking.ts';
import { StreamWriteError } from '../../../adapters/redis/stream-writer.ts';
import { createIdentityResolver } from '../../../adapters/identity/resolver.ts';
import { releaseDue, runLabelRelease } from '../../../long-runners/labels/label-release.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { silentLog, type Log } from '../../../functions/ports.ts';
import { labelerDoc } from '../../helpers/fake-plc.ts';
import { labelKeypair } from '../../helpers/labels.ts';
import { freePort } from '../../helpers/free-port.ts';
import { notDueOn } from '../../../functions/label/future-cts.ts';

let redis: Awaited<ReturnType<typeof createTestRedis>>;
let server: http.Server;
let up: string;
let down: string;
let other: http.Server;
let upToo: string;
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
  // A second host that answers (the document names another DID: no matter, an answer is an answer).
  other = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(labelerDoc({ did: up, atproto: key, label: key, labeler: 'http://127.0.0.1:1' })));
  });
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  upToo = `did:web:localhost%3A${(other.address() as AddressInfo).port}`;
  down = `did:web:localhost%3A${await freePort()}`;
  parking = createLabelParking(redis.redis, keys());
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await new Promise((resolve) => other.close(resolve));
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

describe('a parked member that is no entry (truncated, or another version\'s)', () => {
  it('goes to label_live_dlq, counted and logged, and every good entry of its host, and of the hosts after it, is released', async () => {
    await redis.redis.del(stream(), keys().dlq(STREAMS.labelLive));
    await ensureGroup(redis.redis, stream(), GROUPS.label);
    const vals = [['g1', up], ['g2', up], ['g3', up], ['h1', upToo]] as const;
    for (const [val, src] of vals) await redis.redis.xadd(stream(), '*', 'event', event(val, src));
    const read = await readNew(redis.redis, stream(), GROUPS.label, 'c2', 10, 10);
    const entries = read.map((entry) => ({ entry, on: JSON.parse(entry.fields['event'] ?? '{}').label.src as string, from: 'labeler.example' }));
    // `up`'s host is due first, `upToo`'s after it: a release that fails on the first never reaches the second.
    expect((await parking.park(GROUPS.label, entries.slice(0, 3), 0)).length).toBe(3);
    expect((await parking.park(GROUPS.label, entries.slice(3), 1)).length).toBe(1);
    // Damage as Redis may come to hold it: a member cut short at the head of the list, an older format (an object,
    // counted under no labeler) and one whose fields are odd behind the first good entry (the two that name their
    // labeler counted toward it, as a park counts).
    const list = keys().beside(STREAMS.labelLive, `:parked:${waitHost(up)}`);
    const truncated = JSON.stringify(['labeler.example', up, '1', 'event', event('cut', up)]).slice(0, 40);
    await redis.redis.lpush(list, truncated);
    await redis.redis.hincrby(keys().beside(STREAMS.labelLive, ':parked_from'), 'labeler.example', 1);
    const [, , second] = await redis.redis.lrange(list, 0, -1);
    await redis.redis.linsert(list, 'BEFORE', second!, JSON.stringify({ on: up, fields: { event: event('old', up) } }));
    await redis.redis.linsert(list, 'BEFORE', second!, JSON.stringify(['labeler.example', up, '1', 'event']));
    await redis.redis.hincrby(keys().beside(STREAMS.labelLive, ':parked_from'), 'labeler.example', 1);

    const metrics = createMetrics({ hosts: [], streams: [STREAMS.labelLive] });
    expect(await metrics.registry.metrics()).toContain('skytide_labels_parked_invalid_total 0');
    expect(await metrics.registry.metrics()).toContain('skytide_dead_letters_total{stream="label_live",reason="invalid_parked_entry"} 0');
    const warned: { msg: string; fields: Record<string, unknown> | undefined }[] = [];
    const log: Log = { ...silentLog, warn: (msg, fields) => void warned.push({ msg, fields }), child: () => log };
    const options = {
      parking, identity: createIdentityResolver({ fetch: globalThis.fetch, plcUrl: 'http://127.0.0.1:1', allowPrivate: true }),
      recheckMaxMs: 60_000, highWaterMark: 100, log, metrics: metrics.metrics,
    };
    // Every tick is whole; one is enough here (the damage is a few members), two prove nothing is left to do.
    await releaseDue(options);
    await releaseDue(options);
    const back = await redis.redis.xrange(stream(), '-', '+');
    expect(back.map(([, fields]) => fields)).toEqual([['event', event('g1', up)], ['event', event('g2', up)], ['event', event('g3', up)], ['event', event('h1', upToo)]]);
    const letters = await redis.redis.xrange(keys().dlq(STREAMS.labelLive), '-', '+');
    expect(letters.map(([, fields]) => Object.fromEntries(fields.reduce<string[][]>((pairs, f, i) => (i % 2 === 0 ? [...pairs, [f]] : (pairs.at(-1)!.push(f), pairs)), [])))).toEqual([
      { parked: truncated, reason: 'invalid_parked_entry', attempts: '0', error: expect.stringMatching(/is not JSON/) },
      { parked: expect.stringContaining('\\"old\\"'), reason: 'invalid_parked_entry', attempts: '0', error: expect.stringMatching(/has 0 elements/) },
      { parked: JSON.stringify(['labeler.example', up, '1', 'event']), reason: 'invalid_parked_entry', attempts: '0', error: expect.stringMatching(/has 4 elements/) },
    ]);
    expect(await metrics.registry.metrics()).toContain('skytide_labels_parked_invalid_total 3');
    // Dead letters like any other, by the reason they carry.
    expect(await metrics.registry.metrics()).toContain('skytide_dead_letters_total{stream="label_live",reason="invalid_parked_entry"} 3');
    expect(await metrics.registry.metrics()).toContain('skytide_labels_released_total 4');
    expect(warned.filter((w) => w.msg.includes('no entry')).map((w) => w.fields?.['reason'])).toContain('invalid_parked_entry');
    // Nothing of theirs is left parked, scheduled or counted against the labeler (the truncated member's labeler was
    // read off its beginning; the old-format one never counted): only the entry of the test before, on the host down.
    expect(await redis.redis.llen(list)).toBe(0);
    expect(await parking.due(Date.now() + 3_600_000, 10)).toEqual([waitHost(down)]);
    expect(await parking.parkedFrom('labeler.example')).toBe(1);
  });
});

describe('parking beside a key of the wrong type (made by hand)', () => {
  // Before, the script pushed the member, then met the wrong key and failed: the entry stayed pending, and the park
  // tried again (the consumer's next settle) pushed it a second time, released twice later.
  for (const [what, type] of [['parked_hosts', 'zset'], ['parked_from', 'hash']] as const) {
    it(`refuses when ${what} is a string: nothing parked, the entries still pending; parked once when it is fixed`, async () => {
      const space = createKeySpace(`${redis.prefix}wrong_${what}:`);
      const live = space.stream(STREAMS.labelLive);
      const wrong = space.beside(STREAMS.labelLive, `:${what}`);
      const list = space.beside(STREAMS.labelLive, `:parked:${waitHost(down)}`);
      const mine = createLabelParking(redis.redis, space);
      await ensureGroup(redis.redis, live, GROUPS.label);
      await redis.redis.xadd(live, '*', 'event', event('w', down));
      const read = await readNew(redis.redis, live, GROUPS.label, 'c3', 10, 10);
      const entries = read.map((entry) => ({ entry, on: down, from: 'labeler.example' }));
      await redis.redis.set(wrong, 'made by hand');
      const err = await mine.park(GROUPS.label, entries, 0).catch((e: unknown) => e);
      expect(await redis.redis.exists(list)).toBe(0);
      expect(await redis.redis.xlen(live)).toBe(1);
      expect(Number((await redis.redis.xpending(live, GROUPS.label) as unknown[])[0])).toBe(1);
      expect(await redis.redis.get(wrong)).toBe('made by hand');
      expect(err).toBeInstanceOf(StreamWriteError);
      expect((err as Error).message).toBe(`parked labels: ${wrong} is a string, not a ${type}`);
      await redis.redis.del(wrong);
      expect((await mine.park(GROUPS.label, entries, 0)).length).toBe(1);
      expect(await redis.redis.llen(list)).toBe(1);
      expect(await mine.parkedFrom('labeler.example')).toBe(1);
      expect(await redis.redis.xlen(live)).toBe(0);
    });
  }
  it('refuses when a host\'s parked list is a string', async () => {
    const space = createKeySpace(`${redis.prefix}wrong_list:`);
    const live = space.stream(STREAMS.labelLive);
    const list = space.beside(STREAMS.labelLive, `:parked:${waitHost(down)}`);
    const mine = createLabelParking(redis.redis, space);
    await ensureGroup(redis.redis, live, GROUPS.label);
    await redis.redis.xadd(live, '*', 'event', event('w', down));
    const read = await readNew(redis.redis, live, GROUPS.label, 'c4', 10, 10);
    await redis.redis.set(list, 'made by hand');
    const err = await mine.park(GROUPS.label, read.map((entry) => ({ entry, on: down, from: 'labeler.example' })), 0).catch((e: unknown) => e);
    expect(await redis.redis.exists(space.beside(STREAMS.labelLive, ':parked_hosts'), space.beside(STREAMS.labelLive, ':parked_from'))).toBe(0);
    expect(await redis.redis.xlen(live)).toBe(1);
    expect((err as Error).message).toBe(`parked labels: ${list} is a string, not a list`);
  });
});

describe('releasing beside a key of the wrong type (made by hand)', () => {
  // Before, RELEASE_LABELS XADDed the first entry back, then met the counts at their HINCRBY and failed before the
  // trim: every tick (a failed tick is tried again) wrote that entry into label_live once more.
  it('a counts hash that is a string: nothing released, nothing trimmed, however many ticks try', async () => {
    const space = createKeySpace(`${redis.prefix}wrong_release:`);
    const live = space.stream(STREAMS.labelLive);
    const from = space.beside(STREAMS.labelLive, ':parked_from');
    const list = space.beside(STREAMS.labelLive, `:parked:${waitHost(up)}`);
    const mine = createLabelParking(redis.redis, space);
    await ensureGroup(redis.redis, live, GROUPS.label);
    await redis.redis.xadd(live, '*', 'event', event('r', up));
    const read = await readNew(redis.redis, live, GROUPS.label, 'c5', 10, 10);
    expect((await mine.park(GROUPS.label, read.map((entry) => ({ entry, on: up, from: 'labeler.example' })), 0)).length).toBe(1);
    await redis.redis.del(from);
    await redis.redis.set(from, 'made by hand');
    const errors: unknown[] = [];
    for (let tick = 0; tick < 3; tick++) errors.push(await mine.release(waitHost(up), 10).catch((e: unknown) => e));
    expect(await redis.redis.xlen(live)).toBe(0);
    expect(await redis.redis.llen(list)).toBe(1);
    for (const err of errors) expect((err as Error).message).toBe(`parked labels: ${from} is a string, not a hash`);
    await redis.redis.del(from);
    expect((await mine.release(waitHost(up), 10)).released).toBe(1);
    expect(await redis.redis.xlen(live)).toBe(1);
  });

  it('a stream or a hosts set of another type: refused, nothing moved', async () => {
    const space = createKeySpace(`${redis.prefix}wrong_release2:`);
    const live = space.stream(STREAMS.labelLive);
    const hosts = space.beside(STREAMS.labelLive, ':parked_hosts');
    const list = space.beside(STREAMS.labelLive, `:parked:${waitHost(up)}`);
    const mine = createLabelParking(redis.redis, space);
    await redis.redis.rpush(list, JSON.stringify(['labeler.example', up, '1', 'event', event('s', up)]));
    await redis.redis.set(hosts, 'made by hand');
    const first = await mine.release(waitHost(up), 10).catch((e: unknown) => e);
    expect(await redis.redis.llen(list)).toBe(1);
    expect(await redis.redis.exists(live)).toBe(0);
    expect((first as Error).message).toBe(`parked labels: ${hosts} is a string, not a zset`);
    await redis.redis.del(hosts);
    await redis.redis.set(live, 'made by hand');
    const second = await mine.release(waitHost(up), 10).catch((e: unknown) => e);
    expect(await redis.redis.llen(list)).toBe(1);
    expect((second as Error).message).toBe(`parked labels: ${live} is a string, not a stream`);
  });
});

describe('a parked member whose labeler cannot be read', () => {
  // Each labeler's parked count holds back its subscription at INGESTER_LABEL_PARKED_HIGH_WATER_MARK, so it must stay
  // the number of its entries parked: a member set aside that no longer names its labeler used to stay counted.
  const from = () => keys().beside(STREAMS.labelLive, ':parked_from');
  const parkFrom = async (labelers: readonly string[], src: string): Promise<void> => {
    // What the tests before released is not read again.
    await redis.redis.del(stream());
    await ensureGroup(redis.redis, stream(), GROUPS.label);
    for (const [i] of labelers.entries()) await redis.redis.xadd(stream(), '*', 'event', event(`u${i}`, src));
    const read = await readNew(redis.redis, stream(), GROUPS.label, 'c3', 10, 10);
    const entries = read.map((entry, i) => ({ entry, on: src, from: labelers[i] ?? '' }));
    expect((await parking.park(GROUPS.label, entries, 0)).length).toBe(labelers.length);
  };
  const options = () => ({
    parking, identity: createIdentityResolver({ fetch: globalThis.fetch, plcUrl: 'http://127.0.0.1:1', allowPrivate: true }),
    recheckMaxMs: 60_000, highWaterMark: 100, log: silentLog, metrics: createMetrics({ hosts: [], streams: [] }).metrics,
  });

  it('is taken off the counts when it is set aside, while its host is still down', async () => {
    const stillDown = `did:web:localhost%3A${await freePort()}`;
    await parkFrom(['one.example', 'one.example', 'two.example'], stillDown);
    expect(await parking.parkedFrom('one.example')).toBe(2);
    // Damaged by hand: the head member (one.example's) no longer says whose it is.
    const list = keys().beside(STREAMS.labelLive, `:parked:${waitHost(stillDown)}`);
    await redis.redis.lset(list, 0, '\u0000 not a member');
    await releaseDue(options());
    expect(await redis.redis.llen(list)).toBe(2);
    expect(await parking.parkedFrom('one.example')).toBe(1);
    expect(await parking.parkedFrom('two.example')).toBe(1);
    // The labeler of the earlier tests: its entry on the other host down, still counted.
    expect(await parking.parkedFrom('labeler.example')).toBe(1);
    expect(await redis.redis.hgetall(from())).toEqual({ 'labeler.example': '1', 'one.example': '1', 'two.example': '1' });
  });

  it('released by the host\'s release: the counts end at what is still parked', async () => {
    await parkFrom(['one.example', 'two.example', 'two.example'], up);
    const list = keys().beside(STREAMS.labelLive, `:parked:${waitHost(up)}`);
    // Behind the good head, where the release (not the head's check) meets it.
    await redis.redis.lset(list, 1, '[');
    await releaseDue(options());
    expect(await redis.redis.llen(list)).toBe(0);
    expect(await redis.redis.hgetall(from())).toEqual({ 'labeler.example': '1', 'one.example': '1', 'two.example': '1' });
  });

  it('left counted by a process stopped before its recount is taken off when the release loop starts', async () => {
    // As a set-aside leaves the counts when its process stops before recounting; and a count that is no number.
    await redis.redis.hincrby(from(), 'one.example', 3);
    await redis.redis.hset(from(), 'gone.example', 'x');
    const stop = new AbortController();
    await runLabelRelease({ ...options(), signal: stop.signal, beat: () => stop.abort() });
    expect(await redis.redis.hgetall(from())).toEqual({ 'labeler.example': '1', 'one.example': '1', 'two.example': '1' });
  });
});

describe('labels parked until their cts is due (not a host to wait on)', () => {
  it('go under their source, are released by time, only those due, and hold only their own labeler', async () => {
    const space = createKeySpace(`${redis.prefix}due_`);
    const dueParking = createLabelParking(redis.redis, space);
    const live = space.stream(STREAMS.labelLive);
    await ensureGroup(redis.redis, live, GROUPS.label);
    const src = 'did:plc:ahead7ahead7ahead7ahead7';
    const t0 = Date.now();
    const dues = [t0 + 60_000, t0 + 120_000];
    for (const val of ['first', 'second']) await redis.redis.xadd(live, '*', 'event', event(val, src));
    const read = await readNew(redis.redis, live, GROUPS.label, 'c-due', 10, 10);
    const entries = read.map((entry, i) => ({ entry, on: notDueOn(src, dues[i]!), from: 'ahead.example' }));
    expect((await dueParking.park(GROUPS.label, entries, t0)).length).toBe(2);
    expect(waitHost(entries[0]!.on)).toBe(`due:${src}`);
    // Out of label_live, counted against the labeler that sent them (its subscription alone is held at its mark).
    expect(await redis.redis.xlen(live)).toBe(0);
    expect(await dueParking.parkedFrom('ahead.example')).toBe(2);

    const metrics = createMetrics({ hosts: [], streams: [] });
    // The identity is never asked: there is no host to check (a resolver that always fails would hold them otherwise).
    const identity = { resolve: () => Promise.reject(new Error('no host to check for a label that is not due')) };
    const options = { parking: dueParking, identity, recheckMaxMs: 60_000, highWaterMark: 100, log: silentLog, metrics: metrics.metrics };
    const hosts = space.beside(STREAMS.labelLive, ':parked_hosts');
    // Not due yet: nothing released; checked again when the first is due.
    expect(await releaseDue(options, t0 + 1000)).toBe(0);
    expect(Number(await redis.redis.zscore(hosts, `due:${src}`))).toBe(dues[0]);
    // The first is due, the second not: only the first goes back to label_live.
    expect(await releaseDue(options, dues[0]!)).toBe(1);
    expect((await redis.redis.xrange(live, '-', '+')).map(([, f]) => f)).toEqual([['event', event('first', src)]]);
    expect(await dueParking.parkedFrom('ahead.example')).toBe(1);
    expect(await releaseDue(options, dues[0]! + 1)).toBe(0);
    expect(Number(await redis.redis.zscore(hosts, `due:${src}`))).toBe(dues[1]);
    expect(await releaseDue(options, dues[1]!)).toBe(1);
    expect((await redis.redis.xrange(live, '-', '+')).map(([, f]) => f)).toEqual([['event', event('first', src)], ['event', event('second', src)]]);
    expect(await redis.redis.zscore(hosts, `due:${src}`)).toBeNull();
    expect(await dueParking.parkedFrom('ahead.example')).toBe(0);
  });

  // Found in review: kept in a list in arrival order and released from its head, a label due in a day parked before
  // one due in minutes (a negation retracting a label) held that one for the day.
  const farAndNear = async (name: string) => {
    const space = createKeySpace(`${redis.prefix}${name}_`);
    const dueParking = createLabelParking(redis.redis, space);
    const live = space.stream(STREAMS.labelLive);
    await ensureGroup(redis.redis, live, GROUPS.label);
    const src = 'did:plc:ahead7ahead7ahead7ahead7';
    const t0 = Date.now();
    const due = { far: t0 + 23 * 3_600_000, near: t0 + 6 * 60_000 };
    const metrics = createMetrics({ hosts: [], streams: [] });
    const identity = { resolve: () => Promise.reject(new Error('no host to check for a label that is not due')) };
    const options = { parking: dueParking, identity, recheckMaxMs: 60_000, highWaterMark: 100, log: silentLog, metrics: metrics.metrics };
    const released = async () => (await redis.redis.xrange(live, '-', '+')).map(([, f]) => f);
    const scheduled = async () => {
      const at = await redis.redis.zscore(space.beside(STREAMS.labelLive, ':parked_hosts'), `due:${src}`);
      return at === null ? undefined : Number(at);
    };
    return { space, dueParking, live, src, t0, due, options, released, scheduled };
  };

  it('are each released once due: one due in minutes does not wait behind one parked before it that is due in a day', async () => {
    const { dueParking, live, src, t0, due, options, released, scheduled } = await farAndNear('far_near');
    // Parked apart, far first, as two batches of the labeler's stream would be.
    for (const val of ['far', 'near'] as const) {
      await redis.redis.xadd(live, '*', 'event', event(val, src));
      const [entry] = await readNew(redis.redis, live, GROUPS.label, 'c-far-near', 10, 10);
      expect(await dueParking.park(GROUPS.label, [{ entry: entry!, on: notDueOn(src, due[val]), from: 'ahead.example' }], t0)).toHaveLength(1);
    }
    expect(await dueParking.parkedFrom('ahead.example')).toBe(2);
    expect(await releaseDue(options, t0 + 1000)).toBe(0);
    // The source is checked when its earliest entry is due, not its first parked.
    expect(await scheduled()).toBe(due.near);
    expect(await releaseDue(options, due.near)).toBe(1);
    expect(await released()).toEqual([['event', event('near', src)]]);
    expect(await dueParking.parkedFrom('ahead.example')).toBe(1);
    expect(await scheduled()).toBe(due.far);
    expect(await releaseDue(options, due.far - 1)).toBe(0);
    expect(await releaseDue(options, due.far)).toBe(1);
    expect(await released()).toEqual([['event', event('near', src)], ['event', event('far', src)]]);
    expect(await dueParking.parkedFrom('ahead.example')).toBe(0);
    expect(await scheduled()).toBeUndefined();
  });

  it('parked in a list before they were kept by due time, are still released each once due', async () => {
    const { space, dueParking, src, t0, due, options, released, scheduled } = await farAndNear('far_near_list');
    // What the earlier version wrote: the list in arrival order, the source scheduled at its head's due time, counted.
    const member = (val: 'far' | 'near') => JSON.stringify(['ahead.example', notDueOn(src, due[val]), String(t0), 'event', event(val, src)]);
    const list = space.beside(STREAMS.labelLive, `:parked:due:${src}`);
    await redis.redis.rpush(list, member('far'), member('near'));
    await redis.redis.zadd(space.beside(STREAMS.labelLive, ':parked_hosts'), due.far, `due:${src}`);
    await redis.redis.hset(space.beside(STREAMS.labelLive, ':parked_from'), 'ahead.example', 2);
    // A label parked now makes the list a set in place, and brings the source's check forward to it.
    await redis.redis.xadd(space.stream(STREAMS.labelLive), '*', 'event', event('nearer', src));
    const [entry] = await readNew(redis.redis, space.stream(STREAMS.labelLive), GROUPS.label, 'c-list', 10, 10);
    expect(await dueParking.park(GROUPS.label, [{ entry: entry!, on: notDueOn(src, t0 + 60_000), from: 'ahead.example' }], t0)).toHaveLength(1);
    expect(await redis.redis.type(list)).toBe('zset');
    expect(await scheduled()).toBe(t0 + 60_000);
    expect(await releaseDue(options, t0 + 60_000)).toBe(1);
    // Counted right: the recount reads the set.
    expect(await dueParking.recount()).toBe(0);
    expect(await dueParking.parkedFrom('ahead.example')).toBe(2);
    expect(await scheduled()).toBe(due.near);
    expect(await releaseDue(options, due.near)).toBe(1);
    expect(await dueParking.parkedFrom('ahead.example')).toBe(1);
    expect(await releaseDue(options, due.far)).toBe(1);
    expect(await released()).toEqual([['event', event('nearer', src)], ['event', event('near', src)], ['event', event('far', src)]]);
    expect(await dueParking.parkedFrom('ahead.example')).toBe(0);
    expect(await scheduled()).toBeUndefined();
    expect(await dueParking.recount()).toBe(0);
  });
});
