// The Cloudflare Workers entry: the same Hono app and the same functions as under Node, wired to Worker bindings.
// Wiring only. Bindings are parsed by the same config parser as process.env; the Sql port is postgres.js, which runs
// on Workers through its own `workerd` build (needs the nodejs_compat flag).
import { parseConfig, type Config } from '../config/parse.ts';
import { createApp } from '../http/app.ts';
import { createSql } from '../postgres/client.ts';
import { createLogger } from '../observability/logger.ts';
import { createIdentityResolver } from '../identity/resolver.ts';
import { systemClock, type Log, type Metrics, type Sql } from '../../functions/ports.ts';
import type { Hono } from 'hono';

type Env = Record<string, string | undefined>;

// NOTE: Workers forbid using an I/O object (a socket) in a request other than the one that opened it, so a pool
// cached per isolate fails on its second request (tests/e2e/worker-runtime.test.ts). Each request opens its own
// connection and closes it once answered; in production DATABASE_URL should be a Hyperdrive connection string,
// which pools in front of Postgres. What holds no I/O (parsed config, counters) is kept per isolate.
let cached: { key: string; config: Config; log: Log; counters: ReturnType<typeof counterMetrics> } | undefined;

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

function isolateState(env: Env): NonNullable<typeof cached> {
  const key = JSON.stringify(env);
  if (cached?.key === key) return cached;
  const { config } = parseConfig(env);
  const log = createLogger({ level: config.logLevel, component: 'worker', write: (line) => console.log(line) });
  cached = { key, config, log, counters: counterMetrics() };
  return cached;
}

function appFor(state: NonNullable<typeof cached>, sql: Sql): Hono {
  const { config, log, counters } = state;
  return createApp({
    auth: { dev: config.env === 'dev', token: config.apiToken },
    bodyLimitBytes: config.httpBodyLimitBytes,
    ports: { clock: systemClock, log, metrics: counters.metrics, sql },
    metrics: { contentType: 'text/plain; version=0.0.4', render: counters.render },
    readiness: [{ name: 'postgres', check: async () => void (await sql.query('select 1')) }],
    // No Redis here: each batch resolves the DID documents it needs once (functions/label/verify-label.ts).
    label: {
      identity: createIdentityResolver({ fetch: (input, init) => fetch(input, init), plcUrl: config.plcUrl, allowPrivate: config.identityAllowPrivate }),
      trustedSources: new Set(config.labelTrustedSources),
    },
  });
}

interface ExecutionContext {
  waitUntil(promise: Promise<unknown>): void;
}

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    const state = isolateState(env);
    // Multi-row statements, no COPY: the Worker's socket is the platform's, not node:net (functions/index/staging.ts).
    const sql = createSql(state.config.databaseUrl, { max: 1, copy: false });
    try {
      return await appFor(state, sql).fetch(request);
    } finally {
      ctx.waitUntil(sql.end());
    }
  },
};
