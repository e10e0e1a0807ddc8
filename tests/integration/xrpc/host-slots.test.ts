// Per-host slots on real HTTP servers on 127.0.0.1: one PDS never sees more than `perHost` downloads at once, a
// download that reads its body inside `run` holds its slot until the body is read, another host is not held up, and a
// host is forgotten once its last download ends, whether it succeeded or failed.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHostSlots } from '../../../adapters/xrpc/host-slots.ts';

/** Sends half its body, the rest 150 ms later; counts the requests it is answering at once. */
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
/** A download as the backfill makes one: the request and its whole body, inside the slot. */
const download = (target: string) => async () => (await fetch(target)).text();

beforeAll(async () => {
  await Promise.all([a, b].map(({ server }) => new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))));
});
afterAll(async () => {
  await Promise.all([a, b].map(({ server }) => new Promise((r) => server.close(r))));
});

describe('host slots', () => {
  it('keep at most perHost downloads at once per host, bodies included, without holding other hosts', async () => {
    const slots = createHostSlots(2);
    a.state.max = 0;
    const started = Date.now();
    const onA = Array.from({ length: 6 }, () => slots.run(url(a.server), download(url(a.server))));
    const onB = slots.run(url(b.server), download(url(b.server)));
    expect(await onB).toBe('part one;part two');
    const bDone = Date.now() - started;
    expect(await Promise.all(onA)).toEqual(Array(6).fill('part one;part two'));
    expect(a.state.max).toBe(2);
    // Host B finished while host A's queue (three rounds of 150 ms) was still draining.
    expect(bDone).toBeLessThan(Date.now() - started);
    expect(Date.now() - started).toBeGreaterThanOrEqual(3 * 140);
  });

  it('start a download only once its slot is held: the time before is the queue, not the download', async () => {
    const slots = createHostSlots(1);
    const first = slots.run(url(a.server), download(url(a.server)));
    let startedAt: number | undefined;
    const queuedAt = Date.now();
    const second = slots.run(url(a.server), async () => {
      startedAt = Date.now();
      return download(url(a.server))();
    });
    await first;
    expect(await second).toBe('part one;part two');
    // The second download began after the first one's body was read whole (about 150 ms).
    expect(startedAt! - queuedAt).toBeGreaterThanOrEqual(100);
  });
});

describe('the hosts the slots remember', () => {
  // A backfill meets a host per PDS, and a DID document may name any host it likes (a did:web per subdomain): a
  // limit kept per host for good grew by about 1.4 KB for every host ever fetched from.
  it('are only those with a download running or waiting: a host is forgotten once its last download succeeded or failed', async () => {
    const slots = createHostSlots(2);
    const reading = slots.run(url(a.server), download(url(a.server)));
    expect(slots.busyHosts()).toBe(1);
    expect(await reading).toBe('part one;part two');
    expect(slots.busyHosts()).toBe(0);
    // A download whose body is cancelled rather than read.
    await slots.run(url(b.server), async () => {
      const res = await fetch(url(b.server));
      await res.body!.cancel();
    });
    expect(slots.busyHosts()).toBe(0);
    // A download that fails (the connection refused).
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    const refused = url(closed);
    await new Promise((r) => closed.close(r));
    await expect(slots.run(refused, download(refused))).rejects.toThrow();
    expect(slots.busyHosts()).toBe(0);
    // Queued downloads keep their host until the last of them is done, failures among them included.
    const queued = Array.from({ length: 5 }, (_, i) => slots.run(url(a.server), i === 2 ? async () => Promise.reject(new Error('boom')) : download(url(a.server))));
    expect(slots.busyHosts()).toBe(1);
    const settled = await Promise.allSettled(queued);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect(slots.busyHosts()).toBe(0);
  });
});
