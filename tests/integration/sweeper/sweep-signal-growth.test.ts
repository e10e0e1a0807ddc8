// The sweep tasks run for months on one stop signal (the scheduled sweep's and the on-demand task's), and derive a
// signal from it per sweep, per listRepos page and per idle wait. Whatever that leaves on the stop signal stays for
// the life of the process: Node's AbortSignal.any left one composite per sweep, and through it one per page (about
// 1.7 KB each, never freed: nodejs/node#55351), so a sweep of the whole network's tens of thousands of pages grew the
// process by tens of megabytes each time. After any number of sweeps the stop signal must hold nothing for them.
// Real Redis and Postgres, a listRepos server on 127.0.0.1.
import { describe, expect, it } from 'vitest';
import { DEFAULT_SWEEP_LIMITS } from '../../../long-runners/sweeper/sweep.ts';
import { createSweeper } from '../../../long-runners/sweeper/sweeper.ts';
import { createOnDemandSweeps } from '../../../long-runners/sweeper/on-demand.ts';
import { createKeySpace } from '../../../adapters/redis/keys.ts';
import { noMetrics, type Log, type LogFields } from '../../../functions/ports.ts';
import { useSweepSetup } from '../../helpers/fake-list-repos.ts';
import { signalHolds } from '../../helpers/signal-dependants.ts';

const DIDS = Array.from({ length: 6 }, (_, i) => `did:plc:growth${String(i).padStart(18, 'a')}`);
const PAGE = 2;
const SWEEPS = 10;
const s = useSweepSetup('sweepgrowth', { dids: DIDS, pageSize: PAGE });

function countingLog(): Log & { count(msg: string): number } {
  const msgs: string[] = [];
  const at = (msg: string, _fields?: LogFields) => void msgs.push(msg);
  const log = { debug: at, info: at, warn: at, error: at, child: () => log, count: (msg: string) => msgs.filter((m) => m === msg).length };
  return log;
}

async function waitFor(predicate: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('sweeps on a long-lived stop signal', () => {
  it(`${SWEEPS} sweeps of ${DIDS.length / PAGE} pages leave nothing on the signal they were given`, async () => {
    const keys = createKeySpace(`${s.prefix}direct:`);
    const stop = new AbortController();
    for (let i = 0; i < SWEEPS; i++) {
      const progress = await s.sweep({ keys, pageSize: PAGE, holder: 'growth', leaseTtlMs: 3000, signal: stop.signal });
      expect(progress).toMatchObject({ pages: DIDS.length / PAGE, done: true });
    }
    expect(signalHolds(stop.signal)).toEqual({ listeners: 0, dependants: 0 });
  });

  it(`the on-demand task: ${SWEEPS} sweeps started and waited for leave nothing on its task signal beyond its current wait`, async () => {
    const keys = createKeySpace(`${s.prefix}ondemand:`);
    const log = countingLog();
    const sweeper = createSweeper({
      redis: s.redis, keys, sql: s.db.sql, fetch: globalThis.fetch, hosts: [s.host], highWaterMark: 1000,
      limits: { ...DEFAULT_SWEEP_LIMITS, pageSize: PAGE, leaseTtlMs: 3000 }, holder: 'growth', log, metrics: noMetrics,
    });
    const sweeps = createOnDemandSweeps(sweeper, log);
    const stop = new AbortController();
    const task = sweeps.task.run(stop.signal, () => {});
    try {
      for (let i = 1; i <= SWEEPS; i++) {
        let started = await sweeps.start();
        // The task takes a moment to accept, and a lease is free again only once the previous sweep released it.
        while (!('started' in started)) {
          await new Promise((r) => setTimeout(r, 10));
          started = await sweeps.start();
        }
        await waitFor(() => log.count('sweep finished') === i, `sweep ${i} to finish`);
      }
      // Idle again: one wait in progress, linked to the task's signal by one listener and nothing else.
      // (Waited for exactly one: between a sweep's end and the next wait there is a moment with none, which a check of
      // "at most one" took for idle; a listener left behind still keeps it above one, and the assertion fails.)
      await waitFor(() => signalHolds(stop.signal).listeners === 1, 'the task to be idle, its wait in progress');
      expect(signalHolds(stop.signal)).toEqual({ listeners: 1, dependants: 0 });
    } finally {
      stop.abort();
      await task;
    }
    expect(signalHolds(stop.signal)).toEqual({ listeners: 0, dependants: 0 });
  });
});
