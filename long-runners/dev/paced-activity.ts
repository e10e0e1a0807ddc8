// The dev bot's loop: an action, then a pause of 1 / rate seconds, the rate read afresh each time (the status page
// changes it while the bot runs). A rate of 0 pauses: each pass then rests (the bot reactivates the accounts it
// deactivated, so the network's truth can be read) and looks again a moment later.
import type { Beat } from '../supervisor.ts';
import { sleep } from '../sleep.ts';

/** How often a paused bot looks at its rate again. */
export const PAUSED_POLL_MS = 250;

export interface PacedActivity {
  /** Actions per second now; 0 or less pauses. */
  rate(): number;
  act(): Promise<void>;
  /** Each pass while paused, and once when stopped. */
  rest(): Promise<void>;
  /** After each action: its error, if it failed. */
  settled(err?: unknown): void;
}

export async function runPaced(activity: PacedActivity, signal: AbortSignal, beat?: Beat): Promise<void> {
  while (!signal.aborted) {
    if (activity.rate() <= 0) {
      await activity.rest();
      await sleep(PAUSED_POLL_MS, signal, beat);
      continue;
    }
    try {
      await activity.act();
      activity.settled();
    } catch (err) {
      activity.settled(err);
    }
    // The rate as it is now, not before the action: set to 0 during it, 1000 / 0 slept for ever (beating, so no
    // watchdog named it) and a rate raised later never woke the bot; the pause is the loop's own, above.
    const rate = activity.rate();
    await sleep(rate > 0 ? 1000 / rate : 0, signal, beat);
  }
  await activity.rest();
}
