// The firehose adapter against a real WebSocket relay on 127.0.0.1 and real Redis.
import { describe, expect, it } from 'vitest';
import { FIREHOSE_GAP_REPAIR } from '../../../long-runners/firehose/firehose-ingester.ts';
import { hostKey } from '../../../adapters/redis/keys.ts';
import { silentLog, type Log, type LogFields } from '../../../functions/ports.ts';
import { useFirehoseHarness } from '../../helpers/firehose-harness.ts';
import { accountFrame, buildCommitFrame, encodeFrame, errorFrame, identityFrame, infoFrame, syncFrame } from '../../helpers/frames.ts';
import { waitFor } from '../../helpers/wait.ts';
import { tid } from '../../helpers/events.ts';
import { createRepoStateStore } from '../../../adapters/redis/repo-state.ts';
import { CID } from 'multiformats/cid';
import { SEQ_RESET_AFTER } from '../../../long-runners/subscription/subscription.ts';

const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';
const POST = { $type: 'app.bsky.feed.post', text: 'hi', createdAt: '2026-01-01T00:00:00.000Z' };
const rev = (n: number) => `3l3qo2vuowo${String.fromCharCode(97 + Math.floor(n / 26))}${String.fromCharCode(97 + (n % 26))}`;

const h = useFirehoseHarness('firehose');

async function commit(seq: number, rkey: string) {
  return buildCommitFrame({ seq, did: DID, rev: rev(seq), ops: [{ action: 'create', collection: 'app.bsky.feed.post', rkey, record: POST }] });
}

describe('firehose adapter', () => {
  it('writes one event per op in seq order, and the cursor is the last body seq', async () => {
    h.relay.append(1, identityFrame(1, DID, 'alice.test'));
    h.relay.append(2, (await commit(2, 'a')).frame);
    h.relay.append(3, accountFrame(3, DID, false, 'deactivated'));
    h.relay.append(5, (await buildCommitFrame({ seq: 5, did: DID, rev: rev(5), ops: [] })).frame);
    h.start();
    await waitFor(h.cursor, (c) => c === '5', 'cursor 5');
    const events = await h.events();
    expect(events.map((e) => [e.type, e.seq])).toEqual([['identity', 1], ['create', 2], ['account', 3]]);
    expect(events[1]).toMatchObject({ did: DID, collection: 'app.bsky.feed.post', rkey: 'a', record: POST });
    expect(h.relay.cursors).toEqual(['0']);
  });

  it('resumes from the stored cursor after a restart, and starts live when nothing is stored or configured', async () => {
    await h.redis.set(h.keys.cursor('firehose_live', h.relay.host), '2');
    for (let s = 1; s <= 4; s++) h.relay.append(s, (await commit(s, `r${s}`)).frame);
    h.start();
    await waitFor(h.cursor, (c) => c === '4', 'cursor 4');
    expect(h.relay.cursors).toEqual(['2']);
    expect((await h.events()).map((e) => e.seq)).toEqual([3, 4]);
    await h.stop();

    h.freshKeys();
    h.start({ initialCursor: undefined });
    await waitFor(() => h.relay.cursors.length, (n) => n === 2, 'second connection');
    expect(h.relay.cursors[1]).toBeNull();
    h.relay.append(6, (await commit(6, 'live')).frame);
    await waitFor(h.cursor, (c) => c === '6', 'cursor 6 (live)');
    expect((await h.events()).map((e) => e.seq)).toEqual([6]);
  });

  it('counts malformed frames, never stops on them, and lets the cursor pass frames that carry a seq', async () => {
    const run = h.start();
    await waitFor(() => h.relay.openConnections, (n) => n === 1, 'connection');
    h.relay.broadcast(new Uint8Array([0xff, 0xfe]));
    h.relay.broadcast(encodeFrame({ op: 1, t: '#future-kind' }, { seq: 10 }));
    h.relay.broadcast(encodeFrame({ op: 7 }, {}));
    h.relay.broadcast((await buildCommitFrame({ seq: 11, did: 'not-a-did', rev: rev(1), ops: [] })).frame);
    h.relay.broadcast((await commit(12, 'ok')).frame);
    await waitFor(h.cursor, (c) => c === '12', 'cursor 12');
    expect((await h.events()).map((e) => e.seq)).toEqual([12]);
    expect(await run.errors('invalid_frame')).toBe(1);
    expect(await run.errors('unknown_frame_type')).toBe(1);
    expect(await run.errors('unknown_op')).toBe(1);
    expect(await run.errors('invalid_syntax')).toBe(1);
    expect(h.relay.cursors).toHaveLength(1);
  });

  it('counts a text frame and a seq 0 as invalid, and takes the cursor\'s own seq right after connecting as a benign resume', async () => {
    await h.redis.set(h.keys.cursor('firehose_live', h.relay.host), '2');
    h.relay.append(3, (await commit(3, 'c')).frame);
    h.relay.onConnect = (socket) => {
      socket.send('not a binary frame');
      // A spec-conforming server may resume at the cursor itself ("greater-or-equal").
      socket.send(identityFrame(2, DID));
      socket.send(identityFrame(0, DID));
      return true;
    };
    const run = h.start();
    await waitFor(h.cursor, (c) => c === '3', 'cursor 3');
    expect((await h.events()).map((e) => e.seq)).toEqual([3]);
    expect(await run.errors('invalid_frame')).toBe(2);
    expect(await run.errors('seq_not_increasing')).toBe(0);
    const frames = (kind: string) => run.count('skytide_firehose_frames_total', `host="${hostKey(h.relay.host)}",kind="${kind}"`);
    expect([await frames('ignored'), await frames('invalid'), await frames('sequenced')]).toEqual([1, 2, 1]);
  });

  it('queues the repo for resync when a record block is missing or a #sync arrives', async () => {
    const partial = await buildCommitFrame({
      seq: 1, did: DID, rev: rev(1), omitBlocks: ['app.bsky.feed.post/x'],
      ops: [{ action: 'create', collection: 'app.bsky.feed.post', rkey: 'x', record: POST }],
    });
    h.relay.append(1, partial.frame);
    h.start();
    await waitFor(h.cursor, (c) => c === '1', 'cursor 1');
    const queued = await h.resyncs();
    expect(queued).toEqual([{ did: DID, host: h.relay.host, rev: '', active: true, reason: 'missing_block' }]);
    expect(await h.events()).toEqual([]);
  });

  it('on FutureCursor reconnects from the start of the relay window instead of looping on the same cursor', async () => {
    await h.redis.set(h.keys.cursor('firehose_live', h.relay.host), '999');
    h.relay.append(1, (await commit(1, 'a')).frame);
    h.relay.onConnect = (socket, c) => {
      if (c === '999') {
        socket.send(errorFrame('FutureCursor', 'cursor in the future'));
        socket.close();
        return false;
      }
      return true;
    };
    const run = h.start();
    await waitFor(h.cursor, (c) => c === '1', 'cursor reset to 1');
    expect(h.relay.cursors.slice(0, 2)).toEqual(['999', '0']);
    expect(await run.errors('future_cursor')).toBe(1);
  });

  it('a relay that streams seqs below our cursor without FutureCursor (indigo) is handled as FutureCursor, counted seq_reset', async () => {
    await h.redis.set(h.keys.cursor('firehose_live', h.relay.host), '9000000');
    h.relay.append(1, (await commit(1, 'a')).frame);
    h.relay.onConnect = (socket, c) => {
      if (c !== '9000000') return true;
      // Its sequence was reset: live events numbered far below the cursor, and no error frame.
      for (let s = 1; s <= 150; s++) socket.send(identityFrame(s, DID));
      return false;
    };
    const run = h.start();
    await waitFor(h.cursor, (c) => c === '1', 'cursor reset and moving again');
    expect(h.relay.cursors.slice(0, 2)).toEqual(['9000000', '0']);
    expect((await h.events()).map((e) => [e.type, e.seq])).toEqual([['create', 1]]);
    expect(await run.errors('seq_reset')).toBe(1);
    expect(await run.errors('cursor_reset')).toBe(1);
    expect(await run.errors('seq_not_increasing')).toBe(SEQ_RESET_AFTER);
  });

  it('counts and logs a resume past the stored cursor (indigo answers a cursor older than its window so), with the repair', async () => {
    await h.redis.set(h.keys.cursor('firehose_live', h.relay.host), '5');
    h.relay.onConnect = (socket, c) => {
      if (c !== '5') return true;
      // Its window starts at 40: it streams from there, and says nothing of the seqs 6 to 39.
      void commit(40, 'k40').then(({ frame }) => socket.send(frame));
      return false;
    };
    const warnings: { msg: string; fields: LogFields | undefined }[] = [];
    const log: Log = { ...silentLog, warn: (msg, fields) => void warnings.push({ msg, fields }), child: () => log };
    const run = h.start({ log });
    await waitFor(h.cursor, (c) => c === '40', 'cursor 40');
    expect(await run.errors('cursor_gap')).toBe(1);
    const gap = warnings.find((w) => w.msg.startsWith('upstream resumed past our cursor'));
    expect(gap?.fields).toMatchObject({ cursor: 5, firstSeq: 40, missedSeqs: 34, repair: FIREHOSE_GAP_REPAIR });
  });

  it('counts no gap when upstream resumes at the seq after the cursor, or at the cursor itself', async () => {
    await h.redis.set(h.keys.cursor('firehose_live', h.relay.host), '5');
    for (const s of [5, 6, 7]) h.relay.append(s, (await commit(s, `k${s}`)).frame);
    const run = h.start();
    await waitFor(h.cursor, (c) => c === '7', 'cursor 7');
    expect(await run.errors('cursor_gap')).toBe(0);
  });

  it('keeps going after #info OutdatedCursor, counts it, and says a sweep repairs the gap', async () => {
    h.relay.onConnect = (socket) => void socket.send(infoFrame('OutdatedCursor', 'too old'));
    h.relay.append(1, (await commit(1, 'a')).frame);
    const warnings: { msg: string; fields: LogFields | undefined }[] = [];
    const log: Log = { ...silentLog, warn: (msg, fields) => void warnings.push({ msg, fields }), child: () => log };
    const run = h.start({ log });
    await waitFor(h.cursor, (c) => c === '1', 'cursor 1');
    expect(await run.errors('outdated_cursor')).toBe(1);
    const outdated = warnings.find((w) => w.msg.startsWith('cursor older than upstream window'));
    expect(outdated?.fields?.['repair']).toBe(FIREHOSE_GAP_REPAIR);
  });

  it('stops reading at the high-water mark, loses nothing, and resumes when consumers drain the stream', async () => {
    for (let s = 1; s <= 40; s++) h.relay.append(s, (await commit(s, `k${s}`)).frame);
    h.start({ highWaterMark: 10, batchSize: 5 });
    await waitFor(() => h.redis.xlen(h.keys.stream('firehose_live')), (n) => n >= 10, 'stream at the mark');
    // Held: the length stays near the mark while nothing consumes.
    await new Promise((r) => setTimeout(r, 200));
    const held = await h.redis.xlen(h.keys.stream('firehose_live'));
    expect(held).toBeLessThan(20);
    const seen: number[] = [];
    await waitFor(async () => {
      const entries = await h.redis.xrange(h.keys.stream('firehose_live'), '-', '+');
      for (const [id, fields] of entries) {
        seen.push(JSON.parse(fields[1] ?? '').seq);
        await h.redis.xdel(h.keys.stream('firehose_live'), id);
      }
      return h.cursor();
    }, (c) => c === '40', 'all 40 consumed');
    for (const e of await h.events()) seen.push(e.seq);
    expect(seen).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  });

  it('sync 1.1 continuity: replays and future revs are dropped, a prevData gap queues a resync, all counted', async () => {
    const repoState = createRepoStateStore(h.redis, h.keys.stream(''));
    const first = await commit(1, 'a');
    h.relay.append(1, first.frame);
    // A commit claiming a previous root we never saw: something was missed.
    const other = CID.parse('bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454');
    h.relay.append(2, (await buildCommitFrame({ seq: 2, did: DID, rev: rev(2), prevData: other, ops: [{ action: 'create', collection: 'app.bsky.feed.post', rkey: 'b', record: POST }] })).frame);
    // The first commit again (an old rev replayed), and one from a year ahead.
    h.relay.append(3, (await buildCommitFrame({ seq: 3, did: DID, rev: rev(1), ops: [{ action: 'create', collection: 'app.bsky.feed.post', rkey: 'c', record: POST }] })).frame);
    h.relay.append(4, (await buildCommitFrame({ seq: 4, did: DID, rev: tid((Date.now() + 365 * 24 * 3600_000) * 1000 * 1024), ops: [{ action: 'create', collection: 'app.bsky.feed.post', rkey: 'd', record: POST }] })).frame);
    const run = h.start({ repoState });
    await waitFor(h.cursor, (c) => c === '4', 'cursor 4');
    expect((await h.events()).map((e) => e.rkey)).toEqual(['a', 'b']);
    const queued = await h.resyncs();
    expect(queued).toEqual([{ did: DID, host: h.relay.host, rev: '', active: true, reason: 'prev_data_mismatch' }]);
    expect([await run.errors('stale_rev'), await run.errors('future_rev'), await run.errors('prev_data_mismatch')]).toEqual([1, 1, 1]);
    expect(await run.errors('future_rev')).toBe(1);
    expect(await run.errors('prev_data_mismatch')).toBe(1);
    // The commit carried prevData: the repo's later commits must too.
    expect(await h.repoState(DID)).toEqual({ rev: rev(2), data: first.dataCid.toString(), inductive: true });
  });

  it('a since that is not the stored rev queues a resync (since_mismatch); the first commit, a null since and the commit after a #sync are not flagged', async () => {
    const repoState = createRepoStateStore(h.redis, h.keys.stream(''));
    const withSince = async (seq: number, r: number, since: number | null, rkey: string) =>
      (await buildCommitFrame({ seq, did: DID, rev: rev(r), since: since === null ? null : rev(since), ops: [{ action: 'create', collection: 'app.bsky.feed.post', rkey, record: POST }] })).frame;
    h.relay.append(1, await withSince(1, 1, 2, 'a')); // the first commit seen: nothing to compare with
    h.relay.append(2, await withSince(2, 2, 1, 'b'));
    h.relay.append(3, await withSince(3, 4, 3, 'c')); // rev 3 never came
    h.relay.append(4, await withSince(4, 5, null, 'd'));
    h.relay.append(5, await syncFrame(5, DID, rev(7), { data: CID.parse('bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454') }));
    h.relay.append(6, await withSince(6, 8, 6, 'e')); // after a #sync: it names the commit before the #sync's
    h.relay.append(7, await withSince(7, 9, 8, 'f'));
    const run = h.start({ repoState });
    await waitFor(h.cursor, (c) => c === '7', 'cursor 7');
    expect((await h.events()).map((e) => e.rkey)).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    const queued = await h.resyncs();
    expect(queued).toEqual([{ did: DID, host: h.relay.host, rev: '', active: true, reason: 'since_mismatch' }, { did: DID, host: h.relay.host, rev: '', active: true, reason: 'sync_event' }]);
    expect(await run.errors('since_mismatch')).toBe(1);
    expect(await run.errors('prev_data_mismatch')).toBe(0);
  });

  it('a #sync that states where the repo already is queues nothing; one that differs queues a resync', async () => {
    const repoState = createRepoStateStore(h.redis, h.keys.stream(''));
    const other = CID.parse('bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454');
    h.relay.append(1, (await commit(1, 'a')).frame);
    h.relay.append(2, await syncFrame(2, DID, rev(1)));
    h.relay.append(3, await syncFrame(3, DID, rev(5), { data: other }));
    h.start({ repoState });
    await waitFor(h.cursor, (c) => c === '3', 'cursor 3');
    const queued = await h.resyncs();
    expect(queued).toEqual([{ did: DID, host: h.relay.host, rev: '', active: true, reason: 'sync_event' }]);
  });

  it('a #sync at a later rev on the tree already held (a key rotation\'s empty commit) moves the state and queues nothing', async () => {
    // It queued a whole getRepo of a repo whose content had not changed: every repo of a PDS that rotated its keys.
    const repoState = createRepoStateStore(h.redis, h.keys.stream(''));
    const first = await commit(1, 'a');
    h.relay.append(1, first.frame);
    h.relay.append(2, await syncFrame(2, DID, rev(3)));
    h.relay.append(3, (await buildCommitFrame({ seq: 3, did: DID, rev: rev(4), since: rev(3), prevData: first.dataCid, ops: [{ action: 'create', collection: 'app.bsky.feed.post', rkey: 'b', record: POST }] })).frame);
    const run = h.start({ repoState });
    await waitFor(h.cursor, (c) => c === '3', 'cursor 3');
    expect(await h.resyncs()).toEqual([]);
    expect((await h.events()).map((e) => e.rkey)).toEqual(['a', 'b']);
    expect(await run.errors('prev_data_mismatch')).toBe(0);
    expect((await h.repoState(DID))?.rev).toBe(rev(4));
  });

  it('once a repo\'s commits carried prevData, one without it (an op or a commit hidden by a relay) and a null since are gaps', async () => {
    // Neither is signed: a relay that stripped prevData, dropping a delete from the commit or a whole commit before
    // it, passed unseen, and the deleted record stayed indexed.
    const repoState = createRepoStateStore(h.redis, h.keys.stream(''));
    const at = async (seq: number, o: { since: number | null; prevData?: CID }, rkey: string) =>
      (await buildCommitFrame({ seq, did: DID, rev: rev(seq), since: o.since === null ? null : rev(o.since), ...(o.prevData === undefined ? {} : { prevData: o.prevData }), ops: [{ action: 'create', collection: 'app.bsky.feed.post', rkey, record: POST }] }));
    const first = await at(1, { since: null }, 'a');
    const root = first.dataCid;
    h.relay.append(1, first.frame);
    h.relay.append(2, (await at(2, { since: 1, prevData: root }, 'b')).frame);
    h.relay.append(3, (await at(3, { since: 2 }, 'c')).frame); // prevData stripped
    h.relay.append(4, (await at(4, { since: null, prevData: root }, 'd')).frame); // since nulled
    h.relay.append(5, (await at(5, { since: 4, prevData: root }, 'e')).frame);
    const run = h.start({ repoState });
    await waitFor(h.cursor, (c) => c === '5', 'cursor 5');
    expect((await h.events()).map((e) => e.rkey)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect((await h.resyncs()).map((r) => r.reason)).toEqual(['prev_data_mismatch', 'since_mismatch']);
    expect([await run.errors('prev_data_mismatch'), await run.errors('since_mismatch')]).toEqual([1, 1]);
  });

  it('stopped while held at the high-water mark, reads no more of the socket: what upstream sent meanwhile waits for the next run', async () => {
    // The stop lifted the hold, and the frames in the socket's buffers were read and written above the mark.
    for (let s = 1; s <= 20; s++) h.relay.append(s, (await commit(s, `k${s}`)).frame);
    h.start({ highWaterMark: 10, batchSize: 5 });
    await waitFor(() => h.redis.xlen(h.keys.stream('firehose_live')), (n) => n >= 10, 'stream at the mark');
    await new Promise((r) => setTimeout(r, 200));
    for (let s = 21; s <= 40; s++) h.relay.append(s, (await commit(s, `k${s}`)).frame);
    await new Promise((r) => setTimeout(r, 200));
    await h.stop();
    const seqs = (await h.events()).map((e) => e.seq);
    expect(seqs).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(await h.cursor()).toBe('20');
  });

  it('flushes a partial batch and its cursor when stopped', async () => {
    h.relay.append(1, (await commit(1, 'a')).frame);
    h.relay.append(2, (await commit(2, 'b')).frame);
    h.start({ batchSize: 1000, batchTimeoutMs: 60_000 });
    await waitFor(() => h.relay.openConnections, (n) => n === 1, 'connection');
    await new Promise((r) => setTimeout(r, 100));
    expect(await h.redis.xlen(h.keys.stream('firehose_live'))).toBe(0);
    await h.stop();
    expect(await h.cursor()).toBe('2');
    expect((await h.events()).map((e) => e.seq)).toEqual([1, 2]);
  });
});
