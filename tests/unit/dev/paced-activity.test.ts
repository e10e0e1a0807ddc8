// The dev bot's pacing: the rate is read after each action. Set to 0 while an action ran, the bot slept 1000 / 0 ms
// (for ever, beating), never rested (its deactivated accounts stayed so, /dev/truth answered 503) and never woke
// when the rate was raised again: the newcomer e2e and the watchdog test hung on it.
import { describe, expect, it } from 'vitest';
import { runPaced } from '../../../long-runners/dev/paced-activity.ts';

/** A promise with its resolver, to wait for the loop to reach a point. */
function point(): { reached: Promise<void>; reach: () => void } {
  let reach = () => {};
  const reached = new Promise<void>((resolve) => { reach = resolve; });
  return { reached, reach };
}

describe('dev bot pacing', () => {
  it('rests once its rate is set to 0 during an action, and acts again when the rate is raised', async () => {
    let rate = 1;
    const calls: string[] = [];
    const rested = point();
    const actedAgain = point();
    const stop = new AbortController();
    const running = runPaced({
      rate: () => rate,
      act: async () => {
        calls.push('act');
        if (calls.filter((c) => c === 'act').length === 1) rate = 0; // the status page pauses the bot meanwhile
        else actedAgain.reach();
      },
      rest: async () => {
        if (calls.at(-1) !== 'rest') calls.push('rest');
        rested.reach();
      },
      settled: () => {},
    }, stop.signal);
    await rested.reached;
    rate = 1000;
    await actedAgain.reached;
    stop.abort();
    await running;
    expect(calls.slice(0, 3)).toEqual(['act', 'rest', 'act']);
    expect(calls.at(-1)).toBe('rest');
  }, 20_000);

  it('counts a failed action and goes on', async () => {
    const outcomes: (string | undefined)[] = [];
    const stop = new AbortController();
    let n = 0;
    await runPaced({
      rate: () => 1000,
      act: async () => {
        n++;
        if (n === 1) throw new Error('PDS said no');
        if (n === 2) stop.abort();
      },
      rest: async () => {},
      settled: (err) => outcomes.push(err instanceof Error ? err.message : undefined),
    }, stop.signal);
    expect(outcomes).toEqual(['PDS said no', undefined]);
  });
});
