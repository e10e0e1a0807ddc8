// SWEEP_CRON: a five-field cron expression (minute hour day-of-month month day-of-week, in UTC), read by croner, a
// kept library (review: no hand-written cron parser). Five fields only, as on Cloudflare's cron triggers and in
// crontab: croner would also take seconds and years, which a sweep schedule has no use for. Day-of-month and
// day-of-week combine as in cron: when both are restricted, either may match.
import { Cron as Croner } from 'croner';

export interface Cron {
  next(after: Date): Date;
}

export function parseCron(expression: string): Cron {
  const parts = expression.trim().split(/\s+/);
  if (parts.length !== 5) throw new Error(`cron: expected 5 fields (minute hour day month weekday), got ${parts.length}`);
  let schedule: Croner;
  try {
    schedule = new Croner(parts.join(' '), { timezone: 'UTC', mode: '5-part', domAndDow: false, paused: true });
  } catch (err) {
    throw new Error(`cron ${JSON.stringify(expression)}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return {
    next(after) {
      const at = schedule.nextRun(after);
      // croner gives up (null) on an expression that never fires (Feb 30): reported, not looped on.
      if (at === null) throw new Error(`cron ${JSON.stringify(expression)} does not fire`);
      return at;
    },
  };
}
