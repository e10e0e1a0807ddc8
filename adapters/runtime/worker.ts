// The Cloudflare Workers entry: the same Hono app and the same functions as under Node, wired to Worker bindings.
// Wiring only. Bindings are parsed by the same config parser as process.env; the Sql port is postgres.js, which runs
// on Workers through its own `workerd` build (needs the nodejs_compat flag).
import { parseConfig } from '../config/parse.ts';
import { createApp } from '../http/app.ts';
import { createSql } from '../postgres/client.ts';
import { createLogger } from '../observability/logger.ts';
import { systemClock, type Metrics } from '../../functions/ports.ts';
import type { Hono } from 'hono';

type Env = Record<string, string | undefined>;

// One app per isolate: Workers reuse isolates across requests, and a new pool per request would exhaust Postgres.
let cached: { app: Hono; key: string } | undefined;

function counterMetrics(): { metrics: Metrics; render: () => Promise<string> } {
  const counts = new Map<string, number>();
  return {
    metrics: {
      inc(name, labels = {}, value = 1) {
        const key = `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',')}}`;
        counts.set(key, (counts.get(key) ?? 0) + value);
      },
    },
    render: async () => [...counts].map(([k, v]) => `${k} ${v}`).join('\n') + '\n',
  };
}

function appFor(env: Env): Hono {
  const key = JSON.stringify(env);
  if (cached?.key === key) return cached.app;
  const { config } = parseConfig(env);
  const log = createLogger({ level: config.logLevel, component: 'worker', write: (line) => console.log(line) });
  const sql = createSql(config.databaseUrl, { max: Math.min(config.databasePoolMax, 5) });
  const counters = counterMetrics();
  const app = createApp({
    auth: { dev: config.env === 'dev', token: config.apiToken },
    bodyLimitBytes: config.httpBodyLimitBytes,
    ports: { clock: systemClock, log, metrics: counters.metrics, sql },
    metrics: { contentType: 'text/plain; version=0.0.4', render: counters.render },
    readiness: [{ name: 'postgres', check: async () => void (await sql.query('select 1')) }],
  });
  cached = { app, key };
  return app;
}

export default {
  fetch(request: Request, env: Env): Response | Promise<Response> {
    return appFor(env).fetch(request);
  },
};
