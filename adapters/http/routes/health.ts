// Liveness (the process answers) and readiness (every dependency answers). Orchestrators restart on the first and
// route traffic on the second, so /health never touches a dependency.
import type { Hono } from 'hono';
import { describeError } from '../../../functions/errors.ts';

export interface ReadinessCheck {
  name: string;
  check: () => Promise<void>;
}

export function registerHealthRoutes(app: Hono, checks: readonly ReadinessCheck[]): void {
  app.get('/health', (c) => c.json({ status: 'ok' }));
  app.get('/ready', async (c) => {
    const results = await Promise.all(
      checks.map(async ({ name, check }) => {
        try {
          await check();
          return { name, ok: true as const };
        } catch (err) {
          return { name, ok: false as const, error: describeError(err) };
        }
      }),
    );
    const ready = results.every((r) => r.ok);
    return c.json({ status: ready ? 'ready' : 'not_ready', checks: results }, ready ? 200 : 503);
  });
}
