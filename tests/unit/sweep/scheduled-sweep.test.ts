// The SWEEP_CRON task waits for the time its expression names, however far away: a wait past setTimeout's limit
// (2^31 - 1 ms, 24.8 days; a monthly or yearly schedule) fired after 1 ms, so the task swept back to back.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { scheduledSweepTask } from '../../../long-runners/sweeper/schedule.ts';
import type { Sweeper } from '../../../long-runners/sweeper/sweeper.ts';
import { sleep } from '../../../long-runners/sleep.ts';
import { createLogger } from '../../../adapters/observability/logger.ts';

const DAY = 24 * 60 * 60 * 1000;

function countingSweeper(): Sweeper & { runs: Date[] } {
  const runs: Date[] = [];
  return {
    runs,
    hosts: ['https://relay.example'],
    claim: async () => ({ held: [], busy: [] }),
    run: async () => {
      runs.push(new Date());
      return [];
    },
    release: async () => {},
  };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('the scheduled sweep', () => {
  it('sweeps once at a yearly time 26 days away, not at once and again and again', async () => {
    vi.useFakeTimers({ now: new Date('2026-12-06T08:00:00Z') });
    const sweeper = countingSweeper();
    const controller = new AbortController();
    const task = scheduledSweepTask(sweeper, '0 0 1 1 *', createLogger({ level: 'error', component: 'test', write: () => {} }));
    const running = task.run(controller.signal);
    await vi.advanceTimersByTimeAsync(1000);
    expect(sweeper.runs).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(DAY);
    expect(sweeper.runs).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(25 * DAY);
    expect(sweeper.runs.map((d) => d.toISOString())).toEqual(['2027-01-01T00:00:00.000Z']);
    controller.abort();
    await running;
  });

  it('sleep waits past the timer limit and still stops at once on abort', async () => {
    vi.useFakeTimers({ now: 0 });
    const controller = new AbortController();
    let woke = false;
    void sleep(40 * DAY, controller.signal).then(() => (woke = true));
    await vi.advanceTimersByTimeAsync(1000);
    expect(woke).toBe(false);
    await vi.advanceTimersByTimeAsync(39 * DAY);
    expect(woke).toBe(false);
    await vi.advanceTimersByTimeAsync(DAY);
    expect(woke).toBe(true);
    let stopped = false;
    void sleep(40 * DAY, controller.signal).then(() => (stopped = true));
    await vi.advanceTimersByTimeAsync(30 * DAY);
    controller.abort();
    await Promise.resolve();
    expect(stopped).toBe(true);
  });
});
