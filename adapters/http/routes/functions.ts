// The per-batch functions over HTTP, so a consumer can call them remotely (a container pool or a Worker). The body is
// validated at the edge; an item that does not parse is marked dead, the rest are handled. For the index function, an
// outage of a dependency (a DependencyError: the database is down) answers 503 with Retry-After, so the caller waits
// and retries the whole batch; any other throw is a 500, which the caller treats like a function that threw
// in-process (it bisects). A thrown label function answers 503 so the caller retries the whole batch.
import type { Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { parseStreamEvent, type StreamEvent } from '../../../functions/events.ts';
import { dead, type BatchResult, type ItemOutcome } from '../../../functions/result.ts';
import { indexBatch } from '../../../functions/index/handler.ts';
import type { BasePorts, Sql } from '../../../functions/ports.ts';
import { labelBatch, type LabelBatchResult, type LabelPorts, type LabelVerdict } from '../../../functions/label/handler.ts';
import { parseLabelItem, type LabelEntry } from '../../../functions/label/entry.ts';
import { dependencyErrorIn, describeError } from '../../../functions/errors.ts';
import { backfillRepos, type BackfillPorts, type RepoReport } from '../../../functions/backfill-repo/handler.ts';
import { parseRepoBackfillEntry, type RepoBackfillEntry } from '../../../functions/events.ts';
import { requireBearer, type AuthOptions } from '../auth.ts';
import { answerOutage } from '../outage.ts';
import { FUNCTION_ROUTES, type HttpRefusal } from '../refusals.ts';

/**
 * Repos one POST /functions/backfill-repo may carry. Each is fetched, verified and indexed within the request: on
 * Workers one invocation, whose 10,000 subrequests a repo may take up to 80 of (README, Workers), and anywhere one
 * answer the caller waits for. A sweep's own batches are far smaller.
 */
export const MAX_REPOS_PER_REQUEST = 100;

type FunctionRoute = (typeof FUNCTION_ROUTES)[number];

export interface FunctionRouteDeps {
  auth: AuthOptions;
  bodyLimitBytes: number;
  ports: BasePorts & { sql: Sql };
  /** What the label function needs beyond the base ports; absent: POST /functions/label answers 503. */
  label?: Pick<LabelPorts, 'identity' | 'trustedSources'>;
  /** What the backfill-repo function needs; absent: POST /functions/backfill-repo answers 503. */
  backfill?: BackfillPorts;
}

/** Splits a JSON body `{ events: [...] }` into parsed events and per-position dead outcomes. */
export function parseEventBatch(body: unknown): { events: StreamEvent[]; positions: number[]; outcomes: (ItemOutcome | undefined)[] } | string {
  if (typeof body !== 'object' || body === null || !Array.isArray((body as { events?: unknown }).events)) {
    return 'body must be {"events": [...]}';
  }
  const items = (body as { events: unknown[] }).events;
  const events: StreamEvent[] = [];
  const positions: number[] = [];
  const outcomes: (ItemOutcome | undefined)[] = new Array(items.length).fill(undefined);
  items.forEach((item, i) => {
    const parsed = parseStreamEvent(item);
    if (parsed.ok) {
      events.push(parsed.value);
      positions.push(i);
    } else {
      outcomes[i] = dead('invalid_event', parsed.message);
    }
  });
  return { events, positions, outcomes };
}

/** Splits `{ events: [...] }` of label_live items (`{type:"label", host, label}` or rsky's `{seq, labels}`). */
export function parseLabelBatch(body: unknown): { entries: LabelEntry[]; positions: number[]; outcomes: (ItemOutcome | undefined)[] } | string {
  if (typeof body !== 'object' || body === null || !Array.isArray((body as { events?: unknown }).events)) {
    return 'body must be {"events": [...]}';
  }
  const items = (body as { events: unknown[] }).events;
  const entries: LabelEntry[] = [];
  const positions: number[] = [];
  const outcomes: (ItemOutcome | undefined)[] = new Array(items.length).fill(undefined);
  items.forEach((item, i) => {
    const parsed = parseLabelItem(item);
    if (parsed.ok) {
      entries.push(parsed.value);
      positions.push(i);
    } else {
      outcomes[i] = dead('invalid_event', parsed.message);
    }
  });
  return { entries, positions, outcomes };
}

export function registerFunctionRoutes(app: Hono, deps: FunctionRouteDeps): void {
  // Every refusal of a request's body is counted by route and reason, so a caller sending bad batches shows on a
  // dashboard, not only in its own logs. The route is the registered one (a fixed set), never the raw path.
  const refuse = (c: Context, route: FunctionRoute, reason: HttpRefusal, status: 400 | 413, error: string, message: string) => {
    deps.ports.metrics.inc('skytide_http_refused_total', { route, reason });
    return c.json({ error, message }, status);
  };
  // Refused while the body streams in, before it is buffered or parsed (hono counts the bytes as they arrive).
  const limit = (route: FunctionRoute) =>
    bodyLimit({
      maxSize: deps.bodyLimitBytes,
      onError: (c) => refuse(c, route, 'body_too_big', 413, 'body_too_large', `request body exceeds ${deps.bodyLimitBytes} bytes`),
    });
  /** The body parsed as JSON, or the 400 that refused it (counted as invalid_json). */
  const readJson = async (c: Context, route: FunctionRoute): Promise<{ body: unknown } | Response> => {
    try {
      return { body: await c.req.json() };
    } catch {
      return refuse(c, route, 'invalid_json', 400, 'invalid_json', 'request body is not JSON');
    }
  };
  app.post('/functions/index', requireBearer(deps.auth), limit('/functions/index'), async (c) => {
    const read = await readJson(c, '/functions/index');
    if (read instanceof Response) return read;
    const split = parseEventBatch(read.body);
    if (typeof split === 'string') return refuse(c, '/functions/index', 'invalid_request', 400, 'invalid_request', split);
    let result: BatchResult;
    try {
      result = await indexBatch(split.events, deps.ports);
    } catch (err) {
      const outage = dependencyErrorIn(err);
      if (outage !== undefined) {
        deps.ports.log.warn('index function waits on an outage', { dependency: outage.dependency, events: split.events.length, err: describeError(err) });
        return answerOutage(c, outage);
      }
      deps.ports.log.error('index function failed', { err: describeError(err), events: split.events.length });
      return c.json({ error: 'handler_error', message: 'the index function failed' }, 500);
    }
    const outcomes = split.outcomes.slice();
    split.positions.forEach((pos, i) => {
      outcomes[pos] = result.outcomes[i];
    });
    return c.json({ outcomes, resync: result.resync });
  });

  // Answers one outcome per item and, per item, one verdict per label it held (stored, rejected with its reason,
  // or deferred), so a caller sees what the function decided and not only whether to acknowledge.
  app.post('/functions/label', requireBearer(deps.auth), limit('/functions/label'), async (c) => {
    if (deps.label === undefined) return c.json({ error: 'not_configured', message: 'the label function has no identity resolver here' }, 503);
    const read = await readJson(c, '/functions/label');
    if (read instanceof Response) return read;
    const split = parseLabelBatch(read.body);
    if (typeof split === 'string') return refuse(c, '/functions/label', 'invalid_request', 400, 'invalid_request', split);
    let result: LabelBatchResult;
    try {
      result = await labelBatch(split.entries, { ...deps.ports, ...deps.label });
    } catch (err) {
      const outage = dependencyErrorIn(err);
      if (outage !== undefined) {
        deps.ports.log.warn('label function waits on an outage', { dependency: outage.dependency, entries: split.entries.length, err: describeError(err) });
        return answerOutage(c, outage);
      }
      deps.ports.log.error('label function failed', { err: describeError(err), entries: split.entries.length });
      return c.json({ error: 'handler_error', message: 'the label function failed; retry the batch' }, 503);
    }
    const outcomes = split.outcomes.slice();
    const labels: (LabelVerdict[] | undefined)[] = new Array(outcomes.length).fill(undefined);
    split.positions.forEach((pos, i) => {
      outcomes[pos] = result.outcomes[i];
      labels[pos] = result.verdicts[i];
    });
    return c.json({ outcomes, labels: labels.map((l) => l ?? []) });
  });

  // `{ "repos": [...] }` (at most MAX_REPOS_PER_REQUEST) of repo_backfill entries (`{did, host?, rev?, active?, status?, reason?}`): each repo fetched,
  // verified and indexed; answers one outcome and one report per item. An outage answers 503 with Retry-After (the
  // caller tries the batch again; nothing was recorded against the repos), as POST /reprocess/:did does.
  app.post('/functions/backfill-repo', requireBearer(deps.auth), limit('/functions/backfill-repo'), async (c) => {
    if (deps.backfill === undefined) return c.json({ error: 'not_configured', message: 'backfill is not configured in this process' }, 503);
    const read = await readJson(c, '/functions/backfill-repo');
    if (read instanceof Response) return read;
    const body = read.body;
    const items = typeof body === 'object' && body !== null ? (body as { repos?: unknown }).repos : undefined;
    if (!Array.isArray(items)) return refuse(c, '/functions/backfill-repo', 'invalid_request', 400, 'invalid_request', 'body must be {"repos": [...]}');
    if (items.length > MAX_REPOS_PER_REQUEST) {
      return refuse(c, '/functions/backfill-repo', 'invalid_request', 400, 'invalid_request', `at most ${MAX_REPOS_PER_REQUEST} repos per request (got ${items.length}); send the rest in further requests`);
    }
    const entries: RepoBackfillEntry[] = [];
    const positions: number[] = [];
    const outcomes: (ItemOutcome | undefined)[] = new Array(items.length).fill(undefined);
    const reports: (RepoReport | null)[] = new Array(items.length).fill(null);
    items.forEach((item, i) => {
      const parsed = parseRepoBackfillEntry(item);
      if (parsed.ok) {
        entries.push(parsed.value);
        positions.push(i);
      } else outcomes[i] = dead('invalid_event', parsed.message);
    });
    try {
      const result = await backfillRepos(entries, deps.backfill);
      positions.forEach((pos, i) => {
        outcomes[pos] = result.outcomes[i];
        reports[pos] = result.reports[i] ?? null;
      });
    } catch (err) {
      const outage = dependencyErrorIn(err);
      if (outage !== undefined) {
        deps.ports.log.warn('backfill function waits on an outage', { dependency: outage.dependency, repos: entries.length, err: describeError(err) });
        return answerOutage(c, outage);
      }
      deps.ports.log.error('backfill function failed', { err: describeError(err), repos: entries.length });
      return c.json({ error: 'handler_error', message: 'the backfill function failed' }, 500);
    }
    return c.json({ outcomes, reports });
  });
}
