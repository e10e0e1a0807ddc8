// Frame limits through a real socket (issue 13): a relay that sends the same oversized frame again after every
// reconnect must not make the subscription reconnect forever. A frame a little over the limit is read and passed;
// one far over it is refused by ws (1009), counted once as too_big, and the cursor steps past it. A frame nesting
// deeper than any lexicon is counted as too_deep. Every other frame lands, in order.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { entriesHandler, runSubscription, WS_PAYLOAD_SLACK_BYTES } from '../../../long-runners/subscription/subscription.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { hostKey } from '../../../adapters/redis/keys.ts';
import { silentLog } from '../../../functions/ports.ts';
import { encodeCbor } from '../../../functions/atproto/cbor.ts';
import { createTestRedis } from '../../helpers/services.ts';
import { startFakeRelay, type FakeRelay } from '../../../long-runners/dev/fake-relay.ts';
import { encodeFrame, errorFrame } from '../../helpers/frames.ts';
import { waitFor } from '../../helpers/wait.ts';

let redis: Redis;
let prefix: string;
let cleanup: () => Promise<void>;
let relay: FakeRelay;

beforeAll(async () => {
  ({ redis, prefix, cleanup } = await createTestRedis('frame_limits'));
  relay = await startFakeRelay();
});
afterAll(async () => {
  await relay.close();
  await cleanup();
});

const MAX_FRAME = 64 * 1024;

/** A `#thing` frame of `seq`, padded by `pad` bytes (over the limit: refused by ws when far over it). */
const thing = (seq: number, value: string, pad = 0) => encodeFrame({ op: 1, t: '#thing' }, { seq, value, pad: new Uint8Array(pad) });

/** The subscription every test here runs: #thing frames of `host` into `stream`, one a batch. */
function subscribe(o: { host: string; stream: string; cursorKey: string; initialCursor: number; probeQuietMs?: number }) {
  const metrics = createMetrics({ hosts: [hostKey(o.host)], streams: [] });
  const controller = new AbortController();
  const done = runSubscription(
    {
      redis, host: o.host, nsid: 'com.atproto.sync.subscribeRepos', stream: o.stream, cursorKey: o.cursorKey, highWaterMark: 1000, batchSize: 1,
      batchTimeoutMs: 50, initialCursor: o.initialCursor, maxFrameBytes: MAX_FRAME, log: silentLog, metrics: metrics.metrics, signal: controller.signal,
      counters: { frames: 'skytide_firehose_frames_total', errors: 'skytide_firehose_errors_total' },
      backoff: { baseMs: 20, maxMs: 100, healthyAfterMs: 60_000 },
      ...(o.probeQuietMs === undefined ? {} : { probeQuietMs: o.probeQuietMs }),
    },
    entriesHandler((m) => (m.t === '#thing' ? [{ stream: o.stream, fields: { thing: String(m.body['value']) } }] : undefined)),
  );
  return { metrics, controller, done };
}

describe('oversized and over-nested frames through a fake relay', () => {
  it('counts each once, skips past it, and lands every other frame without a reconnect loop', async () => {
    const stream = `${prefix}things_live`;
    const cursorKey = `${prefix}things_live:cursor:${hostKey(relay.host)}`;
    // A deep nest: {seq, value, x: [[[...0]]]} with 50,000 levels, inside the frame limit.
    const header = encodeCbor({ op: 1, t: '#thing' });
    const prefixBody = Uint8Array.from([0xa3, 0x61, 0x78]);
    const nest = new Uint8Array(50_001).fill(0x81);
    nest[50_000] = 0;
    const tail = encodeCbor({ seq: 4, value: 'deep' }).subarray(1); // the two pairs after the map header
    const deep = new Uint8Array(header.length + prefixBody.length + nest.length + tail.length);
    deep.set(header, 0);
    deep.set(prefixBody, header.length);
    deep.set(nest, header.length + prefixBody.length);
    deep.set(tail, header.length + prefixBody.length + nest.length);

    relay.append(1, thing(1, 'a'));
    relay.append(2, thing(2, 'slightly over', MAX_FRAME + 1000)); // read, counted, passed
    relay.append(3, thing(3, 'far over', MAX_FRAME + WS_PAYLOAD_SLACK_BYTES + 1000)); // ws closes with 1009
    relay.append(4, deep);
    relay.append(5, thing(5, 'b'));
    relay.append(6, thing(6, 'far over again', MAX_FRAME + WS_PAYLOAD_SLACK_BYTES + 1000));
    relay.append(7, thing(7, 'c'));

    const { metrics, controller, done } = subscribe({ host: relay.host, stream, cursorKey, initialCursor: 0 });
    await waitFor(() => redis.get(cursorKey), (c) => c === '7', 'cursor past the last frame', 30_000);
    // Stays put: the relay keeps the oversized frames in its log, and no reconnect asks for them again.
    const connections = relay.cursors.length;
    await new Promise((r) => setTimeout(r, 500));
    expect(relay.cursors.length).toBe(connections);
    controller.abort();
    await done;
    expect((await redis.xrange(stream, '-', '+')).map(([, f]) => f[1])).toEqual(['a', 'b', 'c']);
    // The slightly-over frame's seq is never read (it is not decoded), so after the first 1009 the refused frame is
    // searched for past 1: a probe at 2 meets it again (it is above 2), one at 4 reads seq 5 first (it is at or below
    // 4), one at 3 reads the deep frame first: it is 3, and that connection goes on. Then 6, found by one probe.
    expect(relay.cursors).toEqual(['0', '2', '4', '3', '6']);
    const text = await metrics.registry.metrics();
    const host = hostKey(relay.host);
    expect(text).toContain(`skytide_firehose_errors_total{host="${host}",reason="too_big"} 3`);
    expect(text).toContain(`skytide_firehose_errors_total{host="${host}",reason="too_deep"} 1`);
  });

  it('finds a refused frame after a gap in the seqs in a few reconnects, skipping only it', async () => {
    const stream = `${prefix}gap_live`;
    const cursorKey = `${prefix}gap_live:cursor:${hostKey(relay.host)}`;
    const before = relay.cursors.length; // the relay is shared with the test above
    // Seqs may have gaps (event-stream spec): nothing between 1,000,000 and the refused frame at 1,005,000.
    relay.append(1_000_000, thing(1_000_000, 'a'));
    relay.append(1_005_000, thing(1_005_000, 'far over', MAX_FRAME + WS_PAYLOAD_SLACK_BYTES + 1000));
    relay.append(1_005_001, thing(1_005_001, 'b'));
    relay.append(1_005_002, thing(1_005_002, 'c'));
    const { metrics, controller, done } = subscribe({ host: relay.host, stream, cursorKey, initialCursor: 999_999, probeQuietMs: 200 });
    await waitFor(() => redis.get(cursorKey), (c) => c === '1005002', 'cursor past the last frame', 20_000);
    controller.abort();
    await done;
    expect((await redis.xrange(stream, '-', '+')).map(([, f]) => f[1])).toEqual(['a', 'b', 'c']);
    // log2(5,000) probes out and about as many back, not one reconnect per seq of the gap.
    const cursors = relay.cursors.slice(before);
    expect(cursors.length).toBeLessThan(30);
    expect(cursors.at(-1)).toBe('1005000');
    expect(await metrics.registry.metrics()).toContain(`skytide_firehose_errors_total{host="${hostKey(relay.host)}",reason="too_big"} 1`);
  });

  it('ends a search that closes in from below at the refused frame, instead of asking for the same probe for ever', async () => {
    // Seqs 2 and 3 carry no frame, 4 is refused. Probes: 2 meets it (lo 2), 4 reads 5 first (hi 4), 3 meets it (lo 3):
    // lo and hi meet, so it is 4. The next probe was floor((3 + 4) / 2) = 3 again, forever, with no backoff.
    const own = await startFakeRelay();
    const stream = `${prefix}below_live`;
    const cursorKey = `${prefix}below_live:cursor:${hostKey(own.host)}`;
    own.append(1, thing(1, 'a'));
    own.append(4, thing(4, 'far over', MAX_FRAME + WS_PAYLOAD_SLACK_BYTES + 1000));
    own.append(5, thing(5, 'b'));
    own.append(6, thing(6, 'c'));
    const { controller, done } = subscribe({ host: own.host, stream, cursorKey, initialCursor: 0, probeQuietMs: 200 });
    try {
      await waitFor(() => redis.get(cursorKey), (c) => c === '6', 'cursor past the last frame', 20_000);
    } finally {
      controller.abort();
      await done;
      await own.close();
    }
    expect((await redis.xrange(stream, '-', '+')).map(([, f]) => f[1])).toEqual(['a', 'b', 'c']);
    expect(own.cursors).toEqual(['0', '2', '4', '3', '4']);
  });

  it('takes FutureCursor on a probe past the head for "the refused frame is below", not for a reset of the sequence', async () => {
    // Upstream answers a cursor past its head with FutureCursor, as the reference PDS does. The probes past the refused
    // frame at 12 (the head) overshoot it: each reset the stored cursor to 0 and asked for the same probe again.
    const own = await startFakeRelay();
    let head = 0;
    const append = (seq: number, frame: Uint8Array) => {
      head = seq;
      own.append(seq, frame);
    };
    own.onConnect = (socket, cursor) => {
      if (cursor === null || Number(cursor) <= head) return true;
      socket.send(errorFrame('FutureCursor', 'Cursor in the future.'));
      socket.close();
      return false;
    };
    const stream = `${prefix}future_live`;
    const cursorKey = `${prefix}future_live:cursor:${hostKey(own.host)}`;
    append(10, thing(10, 'a'));
    append(12, thing(12, 'far over', MAX_FRAME + WS_PAYLOAD_SLACK_BYTES + 1000));
    const { metrics, controller, done } = subscribe({ host: own.host, stream, cursorKey, initialCursor: 9, probeQuietMs: 200 });
    try {
      // Probes 11 (meets it: lo 11), 13 (FutureCursor: hi 13), 12 (quiet: hi 12, so it is 12): that connection goes on.
      await waitFor(async () => own.cursors, (c) => c.includes('12'), 'a connection at the refused frame', 20_000);
      append(13, thing(13, 'b'));
      await waitFor(() => redis.get(cursorKey), (c) => c === '13', 'cursor past a later frame', 20_000);
    } finally {
      controller.abort();
      await done;
      await own.close();
    }
    expect((await redis.xrange(stream, '-', '+')).map(([, f]) => f[1])).toEqual(['a', 'b']);
    expect(own.cursors.slice(0, 4)).toEqual(['9', '11', '13', '12']);
    const text = await metrics.registry.metrics();
    expect(text).toContain(`skytide_firehose_errors_total{host="${hostKey(own.host)}",reason="cursor_reset"} 0`);
  });
});
