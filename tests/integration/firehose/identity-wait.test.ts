// Identity waits on the live path against a real relay socket, real Redis and the real resolver: a DID whose own
// did:web host refuses connections waits (its later frames parked behind its commit, other DIDs going on), for its
// window at most; then its commits are judged unverifiable and its repo resynced, and its other frames follow in
// order. Parking is bounded per DID (beyond it: dropped for a resync) and per host (beyond it: the socket holds).
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { hostKey, STREAMS } from '../../../adapters/redis/keys.ts';
import { createIdentityResolver } from '../../../adapters/identity/resolver.ts';
import { withRedisCache } from '../../../adapters/identity/redis-cache.ts';
import { withOutageBreaker } from '../../../adapters/identity/outage-breaker.ts';
import { countWaitingDids } from '../../../adapters/redis/identity-waits.ts';
import { silentLog } from '../../../functions/ports.ts';
import { useFirehoseHarness } from '../../helpers/firehose-harness.ts';
import { accountFrame, buildCommitFrame, identityFrame } from '../../helpers/frames.ts';
import { waitFor } from '../../helpers/wait.ts';
import { tid } from '../../helpers/events.ts';

const OTHER = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';
const POST = { $type: 'app.bsky.feed.post', text: 'hi', createdAt: '2026-01-01T00:00:00.000Z' };

const h = useFirehoseHarness('identity_wait', {
  metrics: { streams: Object.values(STREAMS) },
  // The production identity stack (Redis cache, outage breaker, resolver); no PLC answers (nobody on port 9).
  ingester: ({ redis, keys }) => {
    const breaker = withOutageBreaker(createIdentityResolver({ fetch: globalThis.fetch, plcUrl: 'http://127.0.0.1:9', allowPrivate: true }), { log: silentLog });
    return { identity: withRedisCache(breaker, { redis, prefix: keys.stream(''), log: silentLog }), outages: breaker, waitRetry: { baseMs: 20, maxMs: 50 } };
  },
});

/** A did:web whose host (127.0.0.1, a port nobody listens on) refuses every connection. */
let webDid: string;

beforeAll(async () => {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  webDid = `did:web:localhost%3A${(s.address() as AddressInfo).port}`;
  await new Promise((r) => s.close(r));
});

const waiting = () => countWaitingDids(h.redis, h.keys, h.relay.host);
const webCommit = async (seq: number) =>
  (await buildCommitFrame({ seq, did: webDid, rev: tid(seq), ops: [{ action: 'create', collection: 'app.bsky.feed.post', rkey: `k${seq}`, record: POST }] })).frame;

describe('identity waits on the live path', () => {
  it('parks a did:web DID whose host is down behind its commit while others go on, then judges it after its window', async () => {
    h.relay.append(1, await webCommit(1));
    h.relay.append(2, identityFrame(2, webDid, 'web.example'));
    h.relay.append(3, identityFrame(3, OTHER, 'other.example'));
    h.relay.append(4, await webCommit(4));
    const run = h.start({ didWaitMs: 1500 });
    await waitFor(h.cursorSeq, (c) => c === 4, 'cursor past every frame');
    // The cursor passed the parked frames: they are in Redis, not lost. The other DID was not held up.
    expect(await waiting()).toBe(1);
    expect((await h.events()).map((e) => [e.did, e.seq])).toEqual([[OTHER, 3]]);
    expect(await h.resyncs()).toEqual([]);

    await waitFor(waiting, (n) => n === 0, 'the wait ends with its window', 10_000);
    // Judged like any commit whose DID document cannot be had: dropped, the repo resynced (once for both commits);
    // the #identity between them follows in order.
    expect((await h.events()).map((e) => [e.did, e.seq])).toEqual([[OTHER, 3], [webDid, 2]]);
    expect(await h.resyncs()).toEqual([{ did: webDid, host: h.relay.host, rev: '', active: true, reason: 'identity_failed' }]);
    const host = `host="${hostKey(h.relay.host)}"`;
    expect(await run.count('skytide_identity_waits_total', `${host},on="did"`)).toBe(1);
    expect(await run.count('skytide_identity_parked_frames_total', host)).toBe(3);
    expect(await run.count('skytide_firehose_errors_total', `${host},reason="identity_failed"`)).toBe(2);
  });

  it('writes a waiting DID\'s #account at once, while its commit stays parked (a takedown never waits on the PLC)', async () => {
    h.relay.append(1, await webCommit(1));
    h.relay.append(2, accountFrame(2, webDid, false, 'takendown', '2026-01-01T00:00:02.000Z'));
    h.relay.append(3, identityFrame(3, webDid, 'web.example'));
    const run = h.start({ didWaitMs: 60_000 });
    await waitFor(h.cursorSeq, (c) => c === 3, 'cursor past every frame');
    // The takedown is in the stream while the commit before it and the #identity after it wait for the identity.
    expect((await h.events()).map((e) => [e.type, e.did, e.seq])).toEqual([['account', webDid, 2]]);
    expect(await waiting()).toBe(1);
    expect(await h.redis.llen(h.keys.parked(STREAMS.firehoseLive, h.relay.host, webDid))).toBe(2);
    expect(await run.count('skytide_identity_parked_frames_total', `host="${hostKey(h.relay.host)}"`)).toBe(2);
  });

  it('does not wait in line for a lookup that hangs: the frame is parked and the next DID goes on meanwhile', async () => {
    // A did:web host that accepts the request and answers nothing until told to.
    const hanging: http.ServerResponse[] = [];
    let firstLookupOpen: boolean | undefined;
    const host = http.createServer((_req, res) => {
      if (firstLookupOpen === undefined) {
        firstLookupOpen = true;
        res.on('close', () => (firstLookupOpen = false));
      }
      hanging.push(res);
    });
    await new Promise<void>((r) => host.listen(0, '127.0.0.1', () => r()));
    const slowDid = `did:web:localhost%3A${(host.address() as AddressInfo).port}`;
    try {
      h.relay.append(1, (await buildCommitFrame({ seq: 1, did: slowDid, rev: tid(1), ops: [{ action: 'create', collection: 'app.bsky.feed.post', rkey: 'k1', record: POST }] })).frame);
      h.relay.append(2, identityFrame(2, OTHER, 'other.example'));
      const run = h.start({ didWaitMs: 60_000 });
      await waitFor(h.events, (e) => e.length === 1, 'the other DID written');
      // Written while the slow DID's first lookup still hangs: nobody waited for it.
      expect(firstLookupOpen).toBe(true);
      expect((await h.events()).map((e) => [e.did, e.seq])).toEqual([[OTHER, 2]]);
      expect(await waiting()).toBe(1);
      expect(await run.count('skytide_identity_waits_total', `host="${hostKey(h.relay.host)}",on="lookup"`)).toBe(1);
      for (const res of hanging.splice(0)) res.writeHead(503).end();
    } finally {
      for (const res of hanging.splice(0)) res.destroy();
      await new Promise((r) => host.close(r));
    }
  });

  it('gives a DID that parks too much up for a resync, and keeps it waiting for what comes next', async () => {
    h.relay.append(1, await webCommit(1));
    for (let s = 2; s <= 5; s++) h.relay.append(s, identityFrame(s, webDid, `h${s}.example`));
    const run = h.start({ didWaitMs: 60_000, maxParkedPerDid: 3 });
    await waitFor(h.cursorSeq, (c) => c === 5, 'cursor 5');
    expect(await h.resyncs()).toEqual([{ did: webDid, host: h.relay.host, rev: '', active: true, reason: 'identity_wait_overflow' }]);
    expect(await run.count('skytide_firehose_errors_total', `host="${hostKey(h.relay.host)}",reason="identity_wait_overflow"`)).toBe(3);
    expect(await waiting()).toBe(1);
    expect(await h.redis.llen(h.keys.parked(STREAMS.firehoseLive, h.relay.host, webDid))).toBe(2);
    expect(await h.events()).toEqual([]);
  });

  it('stops reading the socket while too many frames are parked, and reads on once they are released', async () => {
    h.relay.append(1, await webCommit(1));
    h.relay.append(2, identityFrame(2, webDid, 'web.example'));
    for (let s = 3; s <= 6; s++) h.relay.append(s, identityFrame(s, OTHER, `o${s}.example`));
    h.start({ didWaitMs: 1500, maxParkedFrames: 2, batchSize: 1 });
    await waitFor(waiting, (n) => n === 1, 'waiting');
    await new Promise((r) => setTimeout(r, 300));
    // Held at the parking limit: the other DID's frames are still upstream (in the socket, never dropped).
    expect((await h.events()).filter((e) => e.did === OTHER)).toEqual([]);
    await waitFor(h.cursorSeq, (c) => c === 6, 'cursor 6 once the wait ended', 10_000);
    const all = await h.events();
    expect(all.filter((e) => e.did === OTHER).map((e) => e.seq)).toEqual([3, 4, 5, 6]);
    expect(all.filter((e) => e.did === webDid).map((e) => e.seq)).toEqual([2]);
  });
});
