// Prometheus exposition. Gauges that mirror Redis state are refreshed at scrape time; a failed refresh still serves
// the counters.
import type { Hono } from 'hono';
import type { Registry } from 'prom-client';
import type { Log } from '../../../functions/ports.ts';

export function registerMetricsRoute(app: Hono, registry: Registry, log: Log, refresh?: () => Promise<void>): void {
  app.get('/metrics', async (c) => {
    if (refresh !== undefined) {
      try {
        await refresh();
      } catch (err) {
        log.warn('metrics refresh failed', { err });
      }
    }
    return c.body(await registry.metrics(), 200, { 'content-type': registry.contentType });
  });
}
