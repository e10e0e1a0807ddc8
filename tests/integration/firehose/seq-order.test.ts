// Seqs only increase (event-stream spec: "sequence numbers ... are strictly increasing"; issue 8 item 1): a frame
// whose seq is not above the last one accepted is dropped, counted, and never moves the cursor back; the cursor in
// Redis only rises whoever writes it; FutureCursor is the one explicit, logged and counted reset.
import { describe, expect, it } from 'vitest';
import type { Log, LogFields } from '../../../functions/ports.ts';
import { useFirehoseHarness } from '../../helpers/firehose-harness.ts';
import { buildCommitFrame, errorFrame } from '../../helpers/frames.ts';
import { waitFor } from '../../helpers/wait.ts';
import { tid } from '../../helpers/events.ts';

const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';
const POST = { $type: 'app.bsky.feed.post', text: 'hi', createdAt: '2026-01-01T00:00:00.000Z' };

const h = useFirehoseHarness('seq_order', { ingester: () => ({ batchSize: 1 }) });

function recordingLog(lines: { level: string; msg: string; fields: LogFields }[]): Log {
  const at = (level: string) => (msg: string, fields: LogFields = {}) => void lines.push({ level, msg, fields });
  const log: Log = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => log };
  return log;
}

const rkeys = async () => (await h.events()).map((e) => e.rkey as string);
const commit = async (seq: number, rkey: string, n: number) =>
  (await buildCommitFrame({ seq, did: DID, rev: tid(n), ops: [{ action: 'create', collection: 'app.bsky.feed.post', rkey, record: POST }] })).frame;

describe('seqs only increase', () => {
  it('drops a repeated and a lower seq whole, counts them, never lowers the cursor, and takes later frames', async () => {
    h.relay.append(1, await commit(1, 'a', 1));
    h.relay.append(2, await commit(2, 'b', 2));
    // Upstream misbehaves: seq 2 again, then seq 1 again, with commits of their own.
    h.relay.append(2, await commit(2, 'repeated', 3));
    h.relay.append(1, await commit(1, 'lower', 4));
    const run = h.start();
    await waitFor(() => run.errors('seq_not_increasing'), (n) => n === 2, 'both bad frames counted');
    // Each frame is its own batch here, so a cursor set to a bad frame's seq would show.
    expect(await h.cursor()).toBe('2');
    expect(await rkeys()).toEqual(['a', 'b']);

    h.relay.append(3, await commit(3, 'later', 5));
    await waitFor(h.cursor, (c) => c === '3', 'cursor 3');
    expect(await rkeys()).toEqual(['a', 'b', 'later']);
    expect(await run.errors('seq_not_increasing')).toBe(2);
  });

  it('judges seqs against the stored cursor on connect, not only this connection', async () => {
    await h.redis.set(h.keys.cursor('firehose_live', h.relay.host), '5');
    // A relay that ignores our cursor and replays from its start.
    h.relay.onConnect = (socket) => {
      void (async () => {
        for (let s = 1; s <= 7; s++) socket.send(await commit(s, `k${s}`, s));
      })();
      return false;
    };
    const run = h.start();
    await waitFor(h.cursor, (c) => c === '7', 'cursor 7');
    expect(await rkeys()).toEqual(['k6', 'k7']);
    expect(await run.errors('seq_not_increasing')).toBe(5);
  });

  it('never lowers a cursor another writer raised, and takes nothing at or below it afterwards', async () => {
    for (let s = 1; s <= 3; s++) h.relay.append(s, await commit(s, `k${s}`, s));
    const run = h.start();
    await waitFor(h.cursor, (c) => c === '3', 'cursor 3');
    // Another process for the same host has written up to 100 meanwhile.
    await h.redis.set(h.keys.cursor('firehose_live', h.relay.host), '100');
    h.relay.append(4, await commit(4, 'k4', 4));
    await waitFor(rkeys, (r) => r.includes('k4'), 'seq 4 written');
    expect(await h.cursor()).toBe('100');
    h.relay.append(5, await commit(5, 'k5', 5));
    await waitFor(() => run.errors('seq_not_increasing'), (n) => n === 1, 'seq 5 judged against 100');
    expect(await rkeys()).toEqual(['k1', 'k2', 'k3', 'k4']);
    expect(await h.cursor()).toBe('100');
  });

  it('on FutureCursor resets the cursor in plain sight (logged with both values, counted) and replays the window', async () => {
    await h.redis.set(h.keys.cursor('firehose_live', h.relay.host), '999');
    h.relay.append(1, await commit(1, 'a', 1));
    h.relay.append(2, await commit(2, 'b', 2));
    h.relay.onConnect = (socket, c) => {
      if (c !== '999') return true;
      socket.send(errorFrame('FutureCursor', 'cursor in the future'));
      socket.close();
      return false;
    };
    const lines: { level: string; msg: string; fields: LogFields }[] = [];
    const run = h.start({ log: recordingLog(lines) });
    await waitFor(h.cursor, (c) => c === '2', 'cursor 2 after the reset');
    expect(h.relay.cursors.slice(0, 2)).toEqual(['999', '0']);
    expect(await rkeys()).toEqual(['a', 'b']);
    expect(await run.errors('cursor_reset')).toBe(1);
    expect(await run.errors('future_cursor')).toBe(1);
    expect(lines.filter((l) => l.level === 'error').map((l) => [l.fields['old'], l.fields['new']])).toEqual([[999, 0]]);
    // The stream goes on after the reset.
    h.relay.append(3, await commit(3, 'c', 3));
    await waitFor(h.cursor, (c) => c === '3', 'cursor 3');
    expect(await rkeys()).toEqual(['a', 'b', 'c']);
  });
});
