// Builds the Hono app from injected dependencies. It never listens: runtime/node.ts serves it, Workers export its
// `fetch`, and tests call `app.request` directly.
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { BasePorts, Sql } from '../../functions/ports.ts';
import { DependencyError, dependencyErrorIn, describeError } from '../../functions/errors.ts';
import { DeadlineError, withDeadline } from './deadline.ts';
import { answerOutage } from './outage.ts';
import { requireBearer, type AuthOptions } from './auth.ts';
import { createReadiness, registerHealthRoutes, type DegradedCheck, type ReadinessCheck } from './routes/health.ts';
import { registerMetricsRoute, type MetricsExposition } from './routes/metrics.ts';
import { registerFunctionRoutes } from './routes/functions.ts';
import { registerReprocessRoute } from './routes/reprocess.ts';
import { registerLabelRoutes } from './routes/labels.ts';
import { registerStatusPage, type DevControls } from './routes/status-page.ts';
import type { StatusSample } from '../observability/status-history.ts';
import type { LabelPorts } from '../../functions/label/handler.ts';
import type { BackfillPorts } from '../../functions/backfill-repo/handler.ts';

/** What asking for a sweep led to: started (202), refused because a host is being swept (409), or shutting down. */
export type SweepStart = { started: string[] } | { busy: { host: string; holder: string | null }[] } | { stopping: true };

export interface AppDeps {
  auth: AuthOptions;
  bodyLimitBytes: number;
  ports: BasePorts & { sql: Sql };
  /** The Prometheus exposition; Node renders prom-client's registry, a Worker its own counters. */
  metrics: MetricsExposition;
  readiness: readonly ReadinessCheck[];
  /** Listed in /ready's `degraded` while they answer details; /ready stays 200 for them. */
  degraded?: readonly DegradedCheck[];
  /** Refreshes gauges that mirror Redis state before each scrape. */
  refreshGauges?: () => Promise<void>;
  /**
   * Hears each readiness verdict (each /ready, and one taken before each scrape: the `skytide_ready` gauge); absent,
   * a scrape checks nothing.
   */
  onReadiness?: (ready: boolean) => void;
  /** The label function's identity resolver and trusted sources; without them POST /functions/label answers 503. */
  label?: Pick<LabelPorts, 'identity' | 'trustedSources'>;
  /** Ports for POST /reprocess/:did; without them the route answers 503. */
  backfill?: BackfillPorts;
  /**
   * Starts a supervised sweep of every configured relay (POST /sweep), or says which hosts another sweep holds;
   * absent: the route answers 503.
   */
  startSweep?: () => Promise<SweepStart>;
  /** LABEL_QUERY_TIMEOUT_MS: the statement timeout of queryLabels (default QUERY_LABELS_TIMEOUT_MS, functions/label/query.ts). */
  labelQueryTimeoutMs?: number;
  /** A JSON summary for `GET /` (streams, cursors, pending). */
  status?: () => Promise<unknown>;
  /** The status page's samples (adapters/observability/status-history.ts). */
  history?: () => readonly StatusSample[];
  /** The simulated network's controls, when `skytide dev` runs one. */
  devControls?: DevControls;
}

/** What the operations routes need: liveness, readiness and metrics, no function and no credential. */
export type OperationsDeps = Pick<AppDeps, 'metrics' | 'readiness' | 'degraded' | 'refreshGauges' | 'onReadiness'> & { ports: Pick<BasePorts, 'log'> };

/**
 * `/health`, `/ready` and `/metrics` alone: what every `skytide run` process serves on HTTP_PORT when it does not run
 * the `http` task, so a firehose or consumer container can be health-gated and scraped like the API one.
 */
export function createOperationsApp(deps: OperationsDeps): Hono {
  const app = new Hono();
  const log = deps.ports.log.child('http');

  app.onError((err, c) => {
    // An HTTPException that carries its own response (auth.ts's 401 from hono's bearerAuth) is answered with it.
    if (err instanceof HTTPException) return err.res !== undefined ? err.getResponse() : c.json({ error: 'http_error', message: err.message }, err.status);
    // A dependency that is down is no verdict on the request, on any route: 503 with Retry-After, naming it.
    const outage = dependencyErrorIn(err);
    if (outage !== undefined) {
      log.warn('request met an outage', { path: c.req.path, dependency: outage.dependency, err: describeError(err) });
      return answerOutage(c, outage);
    }
    log.error('request failed', { path: c.req.path, err: describeError(err) });
    return c.json({ error: 'internal_error', message: 'the request failed' }, 500);
  });
  app.notFound((c) => c.json({ error: 'not_found', message: `no route for ${c.req.method} ${c.req.path}` }, 404));

  const readiness = createReadiness(deps.readiness, deps.onReadiness);
  registerHealthRoutes(app, readiness, deps.degraded);
  registerMetricsRoute(app, deps.metrics, log, deps.refreshGauges, deps.onReadiness === undefined ? undefined : () => readiness.evaluate());
  return app;
}

/** How long POST /sweep waits for Redis to take the relays' sweep leases. */
const SWEEP_START_DEADLINE_MS = 5000;

/** The operations routes plus every function route, the label queries, reprocess, sweep and the status page. */
export function createApp(deps: AppDeps): Hono {
  const app = createOperationsApp(deps);
  registerFunctionRoutes(app, { auth: deps.auth, bodyLimitBytes: deps.bodyLimitBytes, ports: deps.ports, ...(deps.label === undefined ? {} : { label: deps.label }), ...(deps.backfill === undefined ? {} : { backfill: deps.backfill }) });
  registerLabelRoutes(app, { sql: deps.ports.sql, clock: deps.ports.clock, metrics: deps.ports.metrics, ...(deps.labelQueryTimeoutMs === undefined ? {} : { timeoutMs: deps.labelQueryTimeoutMs }) });
  registerReprocessRoute(app, deps.auth, deps.backfill, deps.ports.metrics);
  app.post('/sweep', requireBearer(deps.auth), async (c) => {
    if (deps.startSweep === undefined) return c.json({ error: 'not_configured', message: 'no relay hosts to sweep' }, 503);
    // It takes each host's lease in Redis, whose client waits out an outage: bounded, a 503 rather than no answer.
    let start: Awaited<ReturnType<typeof deps.startSweep>>;
    try {
      start = await withDeadline(deps.startSweep(), SWEEP_START_DEADLINE_MS, 'redis (the sweep leases)');
    } catch (err) {
      if (!(err instanceof DeadlineError)) throw err;
      return answerOutage(c, new DependencyError('redis', err.message));
    }
    if ('busy' in start) {
      const hosts = start.busy.map((b) => b.host).join(', ');
      return c.json({ error: 'sweep_running', message: `a sweep is already running for ${hosts}`, busy: start.busy }, 409);
    }
    if ('stopping' in start) return c.json({ error: 'stopping', message: 'sweeps are not accepted while the process stops' }, 503);
    return c.json({ started: start.started }, 202);
  });

  registerStatusPage(app, {
    auth: deps.auth,
    log: deps.ports.log.child('http'),
    ...(deps.status === undefined ? {} : { status: deps.status }),
    ...(deps.history === undefined ? {} : { history: deps.history }),
    ...(deps.devControls === undefined ? {} : { devControls: deps.devControls }),
  });
  return app;
}
