// Sweeps started over HTTP (POST /sweep), run under supervision: the route only claims the hosts' leases and hands
// the claim to the `sweep:on-demand` task, which the supervisor runs beside the HTTP server. So no sweep outlives the
// process's shutdown (SIGTERM aborts it between pages; every written page and its cursor stay durable), a failure is
// logged with the task's name and cause, and a second request while one runs, here or in any process sharing the
// Redis, answers "already running" instead of starting a rival sweep.
import type { Log } from '../../functions/ports.ts';
import { describeError } from '../../functions/errors.ts';
import type { SweepStart } from '../../adapters/http/app.ts';
import type { Task } from '../supervisor.ts';
import type { HostsClaim, Sweeper } from './sweeper.ts';
import { sleep } from '../sleep.ts';
import { linkSignals } from '../../functions/linked-signal.ts';

export const ON_DEMAND_SWEEP_TASK = 'sweep:on-demand';

export interface OnDemandSweeps {
  /** Claims every host and queues the sweep for the task; answers who is busy instead when a host is held. */
  start(): Promise<SweepStart>;
  task: Task;
}

export function createOnDemandSweeps(sweeper: Sweeper, log: Log): OnDemandSweeps {
  let accepting = false;
  let queued: HostsClaim | undefined;
  let wake: (() => void) | undefined;

  return {
    async start() {
      if (!accepting) return { stopping: true };
      const claim = await sweeper.claim();
      if (claim.busy.length > 0 || !accepting) {
        await sweeper.release(claim);
        return claim.busy.length > 0 ? { busy: claim.busy } : { stopping: true };
      }
      queued = claim;
      wake?.();
      return { started: claim.held.map((h) => h.host) };
    },
    task: {
      name: ON_DEMAND_SWEEP_TASK,
      run: async (signal, beat) => {
        accepting = true;
        try {
          while (!signal.aborted) {
            if (queued === undefined) {
              // Idle until a POST /sweep wakes it: a wait of any length, beating (sleep.ts), not a hang.
              const woken = new AbortController();
              wake = () => woken.abort();
              // Linked and let go per wait: the task's signal outlives them all (functions/linked-signal.ts).
              const link = linkSignals([signal, woken.signal]);
              await sleep(Number.POSITIVE_INFINITY, link.signal, beat);
              link.release();
              wake = undefined;
            }
            const claim = queued;
            queued = undefined;
            if (claim === undefined) continue;
            if (signal.aborted) {
              await sweeper.release(claim);
              break;
            }
            try {
              for (const outcome of await sweeper.run(claim, signal, undefined, beat)) {
                if ('error' in outcome) log.error('sweep failed', { task: ON_DEMAND_SWEEP_TASK, host: outcome.host, err: describeError(outcome.error) });
              }
            } catch (err) {
              log.error('sweep failed', { task: ON_DEMAND_SWEEP_TASK, err: describeError(err) });
            }
          }
        } finally {
          accepting = false;
          if (queued !== undefined) await sweeper.release(queued);
          queued = undefined;
        }
      },
    },
  };
}
