// GET / for a browser (Accept: text/html) is the status page; anything else, curl included, gets the JSON status, also
// at /status.json. The page polls /status/history.json (the sampler's ring, plus the simulation's controls when
// `skytide dev` runs one) and draws it with /status/chart.js, both served here. The simulation's controls are
// POST /dev/rate and POST /dev/fault, behind the same bearer rule as every mutating route.
import type { Context, Hono } from 'hono';
import { describeError } from '../../../functions/errors.ts';
import { DeadlineError, withDeadline } from '../deadline.ts';
import { OUTAGE_RETRY_AFTER_SECONDS } from '../outage.ts';
import type { Log } from '../../../functions/ports.ts';
import { requireBearer, type AuthOptions } from '../auth.ts';
import { CHART_JS } from '../status-page/chart.ts';
import { STATUS_PAGE_HTML } from '../status-page/page.ts';
import type { StatusSample } from '../../observability/status-history.ts';

/** The simulated network's knobs (long-runners/dev): its rate of actions and the faults it can inject on demand. */
export interface DevControls {
  state(): { rate: number; faults: readonly string[] };
  setRate(perSecond: number): void;
  injectFault(kind: string): Promise<unknown>;
  /** Counts for the status page's `sim` chart (rate, actions, faults injected). */
  stats?(): Record<string, number>;
  /** What the simulated network holds now (GET /dev/truth), to compare with the index. */
  truth?(): Promise<unknown>;
}

export interface StatusPageDeps {
  auth: AuthOptions;
  status?: () => Promise<unknown>;
  history?: () => readonly StatusSample[];
  devControls?: DevControls;
  log?: Log;
}

/** How long the JSON status waits for Redis and Postgres (it reads stream lengths, cursors and repo_sync counts). */
export const STATUS_DEADLINE_MS = 5000;

function wantsHtml(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  const html = /text\/html/i.test(accept);
  const json = /application\/json/i.test(accept);
  return html && (!json || accept.toLowerCase().indexOf('text/html') < accept.toLowerCase().indexOf('application/json'));
}

export function registerStatusPage(app: Hono, deps: StatusPageDeps): void {
  const json = async () => ({ name: 'skytide', status: deps.status === undefined ? {} : await withDeadline(deps.status(), STATUS_DEADLINE_MS, 'the status (redis and postgres)') });
  // The status reads Redis and Postgres, whose clients wait out an outage: bounded, so a page polling it gets a 503
  // naming the wait rather than a request that hangs until the outage ends (and holds up a stopping process).
  const answerJson = async (c: Context) => {
    try {
      return c.json(await json());
    } catch (err) {
      if (!(err instanceof DeadlineError)) throw err;
      c.header('Retry-After', String(OUTAGE_RETRY_AFTER_SECONDS));
      return c.json({ error: 'dependency_unavailable', message: err.message }, 503);
    }
  };
  app.get('/', async (c) => (wantsHtml(c.req.header('accept')) ? c.html(STATUS_PAGE_HTML) : answerJson(c)));
  app.get('/status.json', answerJson);
  app.get('/status/chart.js', (c) => c.body(CHART_JS, 200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache' }));
  app.get('/status/history.json', (c) => {
    const since = Number(c.req.query('since') ?? 0);
    // A `since` that is not a time would filter out every sample and look like a sampler that stopped.
    if (!Number.isFinite(since)) return c.json({ error: 'invalid_request', message: 'since must be a time in milliseconds since the epoch' }, 400);
    const samples = (deps.history?.() ?? []).filter((s) => s.t > since);
    return c.json({ samples, controls: deps.devControls?.state() ?? null });
  });
  app.get('/dev/truth', async (c) => {
    if (deps.devControls?.truth === undefined) return c.json({ error: 'not_configured', message: 'no simulated network in this process' }, 503);
    try {
      return c.json(await deps.devControls.truth());
    } catch (err) {
      // A dev-only route, read by tests and people comparing the index by hand: the cause belongs in the answer
      // (the simulated PDS refused a read, an account is still deactivated), not only in the process's log.
      const message = describeError(err);
      deps.log?.warn('dev truth unreadable', { err: message });
      return c.json({ error: 'truth_unreadable', message }, 503);
    }
  });
  app.post('/dev/rate', requireBearer(deps.auth), async (c) => {
    if (deps.devControls === undefined) return c.json({ error: 'not_configured', message: 'no simulated network in this process' }, 503);
    const body = (await c.req.json().catch(() => null)) as { rate?: unknown } | null;
    const rate = Number(body?.rate);
    if (!Number.isFinite(rate) || rate < 0 || rate > 10_000) return c.json({ error: 'invalid_request', message: 'rate must be a number of actions per second, 0 to 10000' }, 400);
    deps.devControls.setRate(rate);
    return c.json(deps.devControls.state());
  });
  app.post('/dev/fault', requireBearer(deps.auth), async (c) => {
    if (deps.devControls === undefined) return c.json({ error: 'not_configured', message: 'no simulated network in this process' }, 503);
    const body = (await c.req.json().catch(() => null)) as { kind?: unknown } | null;
    const kind = typeof body?.kind === 'string' ? body.kind : '';
    if (!deps.devControls.state().faults.includes(kind)) {
      return c.json({ error: 'invalid_request', message: `kind must be one of ${deps.devControls.state().faults.join(', ')}` }, 400);
    }
    return c.json({ injected: kind, result: await deps.devControls.injectFault(kind) });
  });
}
