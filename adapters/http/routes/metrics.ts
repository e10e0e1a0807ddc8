// Prometheus exposition. Gauges that mirror Redis state are refreshed at scrape time; a failed refresh, or one that
// does not finish within OPERATIONS_DEADLINE_MS (Redis down: its commands wait for the reconnect), still serves the
// counters, with the gauges as last refreshed. Readiness is checked before each scrape too (skytide_ready).
import type { Hono } from 'hono';
import type { Log } from '../../../functions/ports.ts';
import { describeError } from '../../../functions/errors.ts';
import { OPERATIONS_DEADLINE_MS, shareInFlight, withDeadline } from '../deadline.ts';

export interface MetricsExposition {
  contentType: string;
  render(): Promise<string>;
}

/**
 * `refresh` brings the gauges that mirror Redis and Postgres up to date; `settle` (readiness: bounded by its own
 * checks' deadlines, never throwing) runs beside it and is always awaited, so what it sets is never a scrape late.
 */
export function registerMetricsRoute(app: Hono, exposition: MetricsExposition, log: Log, refresh?: () => Promise<void>, settle?: () => Promise<unknown>): void {
  // A refresh still pending from an earlier scrape is joined, not started again.
  const shared = refresh === undefined ? undefined : shareInFlight(refresh);
  app.get('/metrics', async (c) => {
    const refreshed = async () => {
      if (shared === undefined) return;
      try {
        await withDeadline(shared(), OPERATIONS_DEADLINE_MS, 'metrics refresh');
      } catch (err) {
        log.warn('metrics refresh failed', { err: describeError(err) });
      }
    };
    await Promise.all([refreshed(), settle?.()]);
    return c.body(await exposition.render(), 200, { 'content-type': exposition.contentType });
  });
}
