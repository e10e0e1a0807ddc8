// The firehose adapter against a real WebSocket relay on 127.0.0.1 and real Redis.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { FIREHOSE_GAP_REPAIR, runFirehoseIngester, type FirehoseIngesterOptions } from '../../../long-runners/firehose/firehose-ingester.ts';
import { createKeySpace, hostKey, type KeySpace } from '../../../adapters/redis/keys.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { silentLog, type Log, type LogFields } from '../../../functions/ports.ts';
import { createTestRedis } from '../../helpers/services.ts';
import { startFakeRelay, type FakeRelay } from '../../../long-runners/dev/fake-relay.ts';
import { accountFrame, buildCommitFrame, encodeFrame, errorFrame, identityFrame, infoFrame, syncFrame } from '../../helpers/frames.ts';
import { waitFor } from '../../helpers/wait.ts';
import { tid } from '../../helpers/events.ts';
import { createRepoStateStore } from '../../../adapters/redis/repo-state.ts';
import { CID } from 'multiformats/cid';
import { SEQ_RESET_AFTER } from '../../../long-runners/subscription/subscription.ts';

const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';
const POST = { $type: 'app.bsky.feed.post', text: 'hi', createdAt: '2026-01-01T00:00:00.000Z' };
const rev = (n: number) => `3l3qo2vuowo${String.fromCharCode(97 + Math.floor(n / 26))}${String.fromCharCode(97 + (n % 26))}`;

let redis: Redis;
let cleanup: () => Promise<void>;
let keys: KeySpace;
let relay: FakeRelay;
let running: { stop: () => Promise<void> } | undefined;

beforeAll(async () => {
  const r = await createTestRedis('firehose');
  redis = r.redis;
  cleanup = r.cleanup;
});
afterAll(async () => cleanup());
beforeEach(async () => {
  keys = createKeySpace(`${Math.random().toString(36).slice(2)}:`);
  relay = await startFakeRelay();
});
afterEach(async () => {
  await running?.stop();
  running = undefined;
  await relay.close();
});

function start(extra: Partial<FirehoseIngesterOptions> = {}) {
  const metrics = createMetrics({ hosts: [hostKey(relay.host)], streams: ['firehose_live'] });
  const controller = new AbortController();
  const done = runFirehoseIngester({
    redis, keys, host: relay.host, highWaterMark: 100_000, batchSize: 50, batchTimeoutMs: 20, initialCursor: 0,
    log: silentLog, metrics: metrics.metrics, signal: controller.signal, lengthCheckIntervalMs: 20,
    backoff: { baseMs: 10, maxMs: 50, healthyAfterMs: 10_000 }, ...extra,
  });
  running = { stop: async () => { controller.abort(); await done; } };
  return { metrics, controller, done };
}

const streamEvents = async (name = 'firehose_live') =>
  (await redis.xrange(keys.stream(name), '-', '+')).map(([, fields]) => JSON.parse(fields[1] ?? 'null'));
const cursor = () => redis.get(keys.cursor('firehose_live', relay.host));
const counter = async (m: ReturnType<typeof createMetrics>, name: string, reason: string) => {
  const text = await m.registry.metrics();
  const labels = `host="${hostKey(relay.host)}",reason="${reason}"`;
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return Number(line?.split(' ').at(-1) ?? NaN);
};

async function commit(seq: number, rkey: string) {
  return buildCommitFrame({ seq, did: DID, rev: rev(seq), ops: [{ action: 'create', collection: 'app.bsky.feed.post', rkey, record: POST }] });
}

describe('firehose adapter', () => {
  it('writes one event per op in seq order, and the cursor is the last body seq', async () => {
    relay.append(1, identityFrame(1, DID, 'alice.test'));
    relay.append(2, (await commit(2, 'a')).frame);
    relay.append(3, accountFrame(3, DID, false, 'deactivated'));
    relay.append(5, (await buildCommitFrame({ seq: 5, did: DID, rev: rev(5), ops: [] })).frame);
    start();
    await waitFor(cursor, (c) => c === '5', 'cursor 5');
    const events = await streamEvents();
    expect(events.map((e) => [e.type, e.seq])).toEqual([['identity', 1], ['create', 2], ['account', 3]]);
    expect(events[1]).toMatchObject({ did: DID, collection: 'app.bsky.feed.post', rkey: 'a', record: POST });
    expect(relay.cursors).toEqual(['0']);
  });

  it('resumes from the stored cursor after a restart, and starts live when nothing is stored or configured', async () => {
    await redis.set(keys.cursor('firehose_live', relay.host), '2');
    for (let s = 1; s <= 4; s++) relay.append(s, (await commit(s, `r${s}`)).frame);
    start();
    await waitFor(cursor, (c) => c === '4', 'cursor 4');
    expect(relay.cursors).toEqual(['2']);
    expect((await streamEvents()).map((e) => e.seq)).toEqual([3, 4]);
    await running?.stop();

    const fresh = createKeySpace(`${Math.random().toString(36).slice(2)}:`);
    keys = fresh;
    start({ initialCursor: undefined });
    await waitFor(() => relay.cursors.length, (n) => n === 2, 'second connection');
    expect(relay.cursors[1]).toBeNull();
    relay.append(6, (await commit(6, 'live')).frame);
    await waitFor(cursor, (c) => c === '6', 'cursor 6 (live)');
    expect((await streamEvents()).map((e) => e.seq)).toEqual([6]);
  });

  it('counts malformed frames, never stops on them, and lets the cursor pass frames that carry a seq', async () => {
    const run = start();
    await waitFor(() => relay.openConnections, (n) => n === 1, 'connection');
    relay.broadcast(new Uint8Array([0xff, 0xfe]));
    relay.broadcast(encodeFrame({ op: 1, t: '#future-kind' }, { seq: 10 }));
    relay.broadcast(encodeFrame({ op: 7 }, {}));
    relay.broadcast((await buildCommitFrame({ seq: 11, did: 'not-a-did', rev: rev(1), ops: [] })).frame);
    relay.broadcast((await commit(12, 'ok')).frame);
    await waitFor(cursor, (c) => c === '12', 'cursor 12');
    expect((await streamEvents()).map((e) => e.seq)).toEqual([12]);
    expect(await counter(run.metrics, 'skytide_firehose_errors_total', 'invalid_frame')).toBe(1);
    expect(await counter(run.metrics, 'skytide_firehose_errors_total', 'unknown_frame_type')).toBe(1);
    expect(await counter(run.metrics, 'skytide_firehose_errors_total', 'unknown_op')).toBe(1);
    expect(await counter(run.metrics, 'skytide_firehose_errors_total', 'invalid_syntax')).toBe(1);
    expect(relay.cursors).toHaveLength(1);
  });

  it('counts a text frame and a seq 0 as invalid, and takes the cursor\'s own seq right after connecting as a benign resume', async () => {
    await redis.set(keys.cursor('firehose_live', relay.host), '2');
    relay.append(3, (await commit(3, 'c')).frame);
    relay.onConnect = (socket) => {
      socket.send('not a binary frame');
      // A spec-conforming server may resume at the cursor itself ("greater-or-equal").
      socket.send(identityFrame(2, DID));
      socket.send(identityFrame(0, DID));
      return true;
    };
    const run = start();
    await waitFor(cursor, (c) => c === '3', 'cursor 3');
    expect((await streamEvents()).map((e) => e.seq)).toEqual([3]);
    expect(await counter(run.metrics, 'skytide_firehose_errors_total', 'invalid_frame')).toBe(2);
    expect(await counter(run.metrics, 'skytide_firehose_errors_total', 'seq_not_increasing')).toBe(0);
    const frames = (kind: string) => run.metrics.registry.metrics().then((text) =>
      Number(text.split('\n').find((l) => l.startsWith(`skytide_firehose_frames_total{host="${hostKey(relay.host)}",kind="${kind}"}`))?.split(' ').at(-1)));
    expect([await frames('ignored'), await frames('invalid'), await frames('sequenced')]).toEqual([1, 2, 1]);
  });

  it('queues the repo for resync when a record block is missing or a #sync arrives', async () => {
    const partial = await buildCommitFrame({
      seq: 1, did: DID, rev: rev(1), omitBlocks: ['app.bsky.feed.post/x'],
      ops: [{ action: 'create', collection: 'app.bsky.feed.post', rkey: 'x', record: POST }],
    });
    relay.append(1, partial.frame);
    start();
    await waitFor(cursor, (c) => c === '1', 'cursor 1');
    const queued = (await redis.xrange(keys.stream('repo_backfill'), '-', '+')).map(([, f]) => JSON.parse(f[1] ?? ''));
    expect(queued).toEqual([{ did: DID, host: relay.host, rev: '', active: true, reason: 'missing_block' }]);
    expect(await streamEvents()).toEqual([]);
  });

  it('on FutureCursor reconnects from the start of the relay window instead of looping on the same cursor', async () => {
    await redis.set(keys.cursor('firehose_live', relay.host), '999');
    relay.append(1, (await commit(1, 'a')).frame);
    relay.onConnect = (socket, c) => {
      if (c === '999') {
        socket.send(errorFrame('FutureCursor', 'cursor in the future'));
        socket.close();
        return false;
      }
      return true;
    };
    const run = start();
    await waitFor(cursor, (c) => c === '1', 'cursor reset to 1');
    expect(relay.cursors.slice(0, 2)).toEqual(['999', '0']);
    expect(await counter(run.metrics, 'skytide_firehose_errors_total', 'future_cursor')).toBe(1);
  });

  it('a relay that streams seqs below our cursor without FutureCursor (indigo) is handled as FutureCursor, counted seq_reset', async () => {
    await redis.set(keys.cursor('firehose_live', relay.host), '9000000');
    relay.append(1, (await commit(1, 'a')).frame);
    relay.onConnect = (socket, c) => {
      if (c !== '9000000') return true;
      // Its sequence was reset: live events numbered far below the cursor, and no error frame.
      for (let s = 1; s <= 150; s++) socket.send(identityFrame(s, DID));
      return false;
    };
    const run = start();
    await waitFor(cursor, (c) => c === '1', 'cursor reset and moving again');
    expect(relay.cursors.slice(0, 2)).toEqual(['9000000', '0']);
    expect((await streamEvents()).map((e) => [e.type, e.seq])).toEqual([['create', 1]]);
    expect(await counter(run.metrics, 'skytide_firehose_errors_total', 'seq_reset')).toBe(1);
    expect(await counter(run.metrics, 'skytide_firehose_errors_total', 'cursor_reset')).toBe(1);
    expect(await counter(run.metrics, 'skytide_firehose_errors_total', 'seq_not_increasing')).toBe(SEQ_RESET_AFTER);
  });

  it('counts and logs a resume past the stored cursor (indigo answers a cursor older than its window so), with the repair', async () => {
    await redis.set(keys.cursor('firehose_live', relay.host), '5');
    relay.onConnect = (socket, c) => {
      if (c !== '5') return true;
      // Its window starts at 40: it streams from there, and says nothing of the seqs 6 to 39.
      void commit(40, 'k40').then(({ frame }) => socket.send(frame));
      return false;
    };
    const warnings: { msg: string; fields: LogFields | undefined }[] = [];
    const log: Log = { ...silentLog, warn: (msg, fields) => void warnings.push({ msg, fields }), child: () => log };
    const run = start({ log });
    await waitFor(cursor, (c) => c === '40', 'cursor 40');
    expect(await counter(run.metrics, 'skytide_firehose_errors_total', 'cursor_gap')).toBe(1);
    const gap = warnings.find((w) => w.msg.startsWith('upstream resumed past our cursor'));
    expect(gap?.fields).toMatchObject({ cursor: 5, firstSeq: 40, missedSeqs: 34, repair: FIREHOSE_GAP_REPAIR });
  });

  it('counts no gap when upstream resumes at the seq after the cursor, or at the cursor itself', async () => {
    await redis.set(keys.cursor('firehose_live', relay.host), '5');
    for (const s of [5, 6, 7]) relay.append(s, (await commit(s, `k${s}`)).frame);
    const run = start();
    await waitFor(cursor, (c) => c === '7', 'cursor 7');
    expect(await counter(run.metrics, 'skytide_firehose_errors_total', 'cursor_gap')).toBe(0);
  });

  it('keeps going after #info OutdatedCursor, counts it, and says a sweep repairs the gap', async () => {
    relay.onConnect = (socket) => void socket.send(infoFrame('OutdatedCursor', 'too old'));
    relay.append(1, (await commit(1, 'a')).frame);
    const warnings: { msg: string; fields: LogFields | undefined }[] = [];
    const log: Log = { ...silentLog, warn: (msg, fields) => void warnings.push({ msg, fields }), child: () => log };
    const run = start({ log });
    await waitFor(cursor, (c) => c === '1', 'cursor 1');
    expect(await counter(run.metrics, 'skytide_firehose_errors_total', 'outdated_cursor')).toBe(1);
    const outdated = warnings.find((w) => w.msg.startsWith('cursor older than upstream window'));
    expect(outdated?.fields?.['repair']).toBe(FIREHOSE_GAP_REPAIR);
  });

  it('stops reading at the high-water mark, loses nothing, and resumes when consumers drain the stream', async () => {
    for (let s = 1; s <= 40; s++) relay.append(s, (await commit(s, `k${s}`)).frame);
    start({ highWaterMark: 10, batchSize: 5 });
    await waitFor(() => redis.xlen(keys.stream('firehose_live')), (n) => n >= 10, 'stream at the mark');
    // Held: the length stays near the mark while nothing consumes.
    await new Promise((r) => setTimeout(r, 200));
    const held = await redis.xlen(keys.stream('firehose_live'));
    expect(held).toBeLessThan(20);
    const seen: number[] = [];
    await waitFor(async () => {
      const entries = await redis.xrange(keys.stream('firehose_live'), '-', '+');
      for (const [id, fields] of entries) {
        seen.push(JSON.parse(fields[1] ?? '').seq);
        await redis.xdel(keys.stream('firehose_live'), id);
      }
      return redis.get(keys.cursor('firehose_live', relay.host));
    }, (c) => c === '40', 'all 40 consumed');
    for (const [, fields] of await redis.xrange(keys.stream('firehose_live'), '-', '+')) seen.push(JSON.parse(fields[1] ?? '').seq);
    expect(seen).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  });

  it('sync 1.1 continuity: replays and future revs are dropped, a prevData gap queues a resync, all counted', async () => {
    const repoState = createRepoStateStore(redis, keys.stream(''));
    const first = await commit(1, 'a');
    relay.append(1, first.frame);
    // A commit claiming a previous root we never saw: something was missed.
    const other = CID.parse('bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454');
    relay.append(2, (await buildCommitFrame({ seq: 2, did: DID, rev: rev(2), prevData: other, ops: [{ action: 'create', collection: 'app.bsky.feed.post', rkey: 'b', record: POST }] })).frame);
    // The first commit again (an old rev replayed), and one from a year ahead.
    relay.append(3, (await buildCommitFrame({ seq: 3, did: DID, rev: rev(1), ops: [{ action: 'create', collection: 'app.bsky.feed.post', rkey: 'c', record: POST }] })).frame);
    relay.append(4, (await buildCommitFrame({ seq: 4, did: DID, rev: tid((Date.now() + 365 * 24 * 3600_000) * 1000 * 1024), ops: [{ action: 'create', collection: 'app.bsky.feed.post', rkey: 'd', record: POST }] })).frame);
    const run = start({ repoState });
    await waitFor(cursor, (c) => c === '4', 'cursor 4');
    expect((await streamEvents()).map((e) => e.rkey)).toEqual(['a', 'b']);
    const queued = (await redis.xrange(keys.stream('repo_backfill'), '-', '+')).map(([, f]) => JSON.parse(f[1] ?? ''));
    expect(queued).toEqual([{ did: DID, host: relay.host, rev: '', active: true, reason: 'prev_data_mismatch' }]);
    expect([await counter(run.metrics, 'skytide_firehose_errors_total', 'stale_rev'), await counter(run.metrics, 'skytide_firehose_errors_total', 'future_rev'), await counter(run.metrics, 'skytide_firehose_errors_total', 'prev_data_mismatch')]).toEqual([1, 1, 1]);
    expect(await counter(run.metrics, 'skytide_firehose_errors_total', 'future_rev')).toBe(1);
    expect(await counter(run.metrics, 'skytide_firehose_errors_total', 'prev_data_mismatch')).toBe(1);
    expect(JSON.parse((await redis.get(`${keys.stream('')}repo_state:${DID}`))!)).toEqual({ rev: rev(2), data: first.dataCid.toString() });
  });

  it('a since that is not the stored rev queues a resync (since_mismatch); the first commit, a null since and the commit after a #sync are not flagged', async () => {
    const repoState = createRepoStateStore(redis, keys.stream(''));
    const withSince = async (seq: number, r: number, since: number | null, rkey: string) =>
      (await buildCommitFrame({ seq, did: DID, rev: rev(r), since: since === null ? null : rev(since), ops: [{ action: 'create', collection: 'app.bsky.feed.post', rkey, record: POST }] })).frame;
    relay.append(1, await withSince(1, 1, 2, 'a')); // the first commit seen: nothing to compare with
    relay.append(2, await withSince(2, 2, 1, 'b'));
    relay.append(3, await withSince(3, 4, 3, 'c')); // rev 3 never came
    relay.append(4, await withSince(4, 5, null, 'd'));
    relay.append(5, await syncFrame(5, DID, rev(7)));
    relay.append(6, await withSince(6, 8, 6, 'e')); // after a #sync: it names the commit before the #sync's
    relay.append(7, await withSince(7, 9, 8, 'f'));
    const run = start({ repoState });
    await waitFor(cursor, (c) => c === '7', 'cursor 7');
    expect((await streamEvents()).map((e) => e.rkey)).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    const queued = (await redis.xrange(keys.stream('repo_backfill'), '-', '+')).map(([, f]) => JSON.parse(f[1] ?? ''));
    expect(queued).toEqual([{ did: DID, host: relay.host, rev: '', active: true, reason: 'since_mismatch' }, { did: DID, host: relay.host, rev: '', active: true, reason: 'sync_event' }]);
    expect(await counter(run.metrics, 'skytide_firehose_errors_total', 'since_mismatch')).toBe(1);
    expect(await counter(run.metrics, 'skytide_firehose_errors_total', 'prev_data_mismatch')).toBe(0);
  });

  it('a #sync that states where the repo already is queues nothing; one that differs queues a resync', async () => {
    const repoState = createRepoStateStore(redis, keys.stream(''));
    relay.append(1, (await commit(1, 'a')).frame);
    relay.append(2, await syncFrame(2, DID, rev(1)));
    relay.append(3, await syncFrame(3, DID, rev(5)));
    start({ repoState });
    await waitFor(cursor, (c) => c === '3', 'cursor 3');
    const queued = (await redis.xrange(keys.stream('repo_backfill'), '-', '+')).map(([, f]) => JSON.parse(f[1] ?? ''));
    expect(queued).toEqual([{ did: DID, host: relay.host, rev: '', active: true, reason: 'sync_event' }]);
  });

  it('flushes a partial batch and its cursor when stopped', async () => {
    relay.append(1, (await commit(1, 'a')).frame);
    relay.append(2, (await commit(2, 'b')).frame);
    start({ batchSize: 1000, batchTimeoutMs: 60_000 });
    await waitFor(() => relay.openConnections, (n) => n === 1, 'connection');
    await new Promise((r) => setTimeout(r, 100));
    expect(await redis.xlen(keys.stream('firehose_live'))).toBe(0);
    await running?.stop();
    running = undefined;
    expect(await cursor()).toBe('2');
    expect((await streamEvents()).map((e) => e.seq)).toEqual([1, 2]);
  });
});
