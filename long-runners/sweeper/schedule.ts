// The scheduled sweep (SWEEP_CRON) as a supervised task: waits for the next time the expression names, sweeps every
// relay whose lease it can take, and waits again. A host another process is sweeping is left to it (logged); a
// failed host is logged with the task name and cause and tried again next time; neither ends the task.
import type { Log } from '../../functions/ports.ts';
import { describeError } from '../../functions/errors.ts';
import { parseCron } from '../../adapters/config/cron.ts';
import type { Task } from '../supervisor.ts';
import { sleep } from '../sleep.ts';
import type { Sweeper } from './sweeper.ts';

export const SCHEDULED_SWEEP_TASK = 'sweep:schedule';

export function scheduledSweepTask(sweeper: Sweeper, cronText: string, log: Log): Task {
  const cron = parseCron(cronText);
  return {
    name: SCHEDULED_SWEEP_TASK,
    run: async (signal, beat) => {
      while (!signal.aborted) {
        const next = cron.next(new Date());
        log.info('next sweep scheduled', { at: next.toISOString() });
        // Waiting for its time is idle, not hung: the sleep beats.
        await sleep(next.getTime() - Date.now(), signal, beat);
        if (signal.aborted) break;
        try {
          const claim = await sweeper.claim();
          for (const b of claim.busy) log.warn('sweep already running elsewhere', { task: SCHEDULED_SWEEP_TASK, host: b.host, holder: b.holder });
          for (const outcome of await sweeper.run(claim, signal, undefined, beat)) {
            if ('error' in outcome) log.error('sweep failed', { task: SCHEDULED_SWEEP_TASK, host: outcome.host, err: describeError(outcome.error) });
          }
        } catch (err) {
          log.error('sweep failed', { task: SCHEDULED_SWEEP_TASK, err: describeError(err) });
        }
      }
    },
  };
}
