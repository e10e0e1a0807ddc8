// Per-host limits on real HTTP servers on 127.0.0.1: one PDS never sees more than `perHost` downloads at once, a
// streamed body holds its slot until it is read, and another host is not held up.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHostLimitedFetch } from '../../../adapters/xrpc/host-limited-fetch.ts';

function slowServer() {
  const state = { inFlight: 0, max: 0 };
  const server = http.createServer((_req, res) => {
    state.inFlight++;
    state.max = Math.max(state.max, state.inFlight);
    res.writeHead(200);
    res.write('part one;');
    setTimeout(() => {
      res.end('part two');
      state.inFlight--;
    }, 150);
  });
  return { server, state };
}

const a = slowServer();
const b = slowServer();
const url = (s: http.Server) => `http://127.0.0.1:${(s.address() as AddressInfo).port}/`;

beforeAll(async () => {
  await Promise.all([a, b].map(({ server }) => new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))));
});
afterAll(async () => {
  await Promise.all([a, b].map(({ server }) => new Promise((r) => server.close(r))));
});

describe('host-limited fetch', () => {
  it('keeps at most perHost downloads in flight per host, bodies included, without holding other hosts', async () => {
    const fetch = createHostLimitedFetch(globalThis.fetch, 2);
    const started = Date.now();
    const onA = Array.from({ length: 6 }, () => fetch(url(a.server)).then((r) => r.text()));
    const onB = fetch(url(b.server)).then((r) => r.text());
    expect(await onB).toBe('part one;part two');
    const bDone = Date.now() - started;
    expect(await Promise.all(onA)).toEqual(Array(6).fill('part one;part two'));
    expect(a.state.max).toBe(2);
    // Host B finished while host A's queue (three rounds of 150 ms) was still draining.
    expect(bDone).toBeLessThan(Date.now() - started);
  });
});

describe('the hosts the limit remembers', () => {
  // A backfill meets a host per PDS, and a DID document may name any host it likes (a did:web per subdomain): a
  // limit kept per host for good grew by about 1.4 KB for every host ever fetched from.
  it('are only those with a request in flight or waiting: a host is forgotten once its last answer is read, cancelled or failed', async () => {
    const fetch = createHostLimitedFetch(globalThis.fetch, 2);
    const reading = await fetch(url(a.server));
    expect(fetch.busyHosts()).toBe(1);
    expect(await reading.text()).toBe('part one;part two');
    expect(fetch.busyHosts()).toBe(0);
    const cancelled = await fetch(url(b.server));
    await cancelled.body!.cancel();
    expect(fetch.busyHosts()).toBe(0);
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    const refused = url(closed);
    await new Promise((r) => closed.close(r));
    await expect(fetch(refused)).rejects.toThrow();
    expect(fetch.busyHosts()).toBe(0);
    // Queued requests keep their host until the last of them is done.
    const queued = Array.from({ length: 5 }, () => fetch(url(a.server)).then((r) => r.text()));
    await Promise.all(queued);
    expect(fetch.busyHosts()).toBe(0);
  });
});
