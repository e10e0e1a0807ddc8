// Prometheus exposition. Gauges that mirror Redis state are refreshed at scrape time; a failed refresh still serves
// the counters.
import type { Hono } from 'hono';
import type { Log } from '../../../functions/ports.ts';

export interface MetricsExposition {
  contentType: string;
  render(): Promise<string>;
}

export function registerMetricsRoute(app: Hono, exposition: MetricsExposition, log: Log, refresh?: () => Promise<void>): void {
  app.get('/metrics', async (c) => {
    if (refresh !== undefined) {
      try {
        await refresh();
      } catch (err) {
        log.warn('metrics refresh failed', { err });
      }
    }
    return c.body(await exposition.render(), 200, { 'content-type': exposition.contentType });
  });
}
