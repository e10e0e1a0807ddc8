// GET /xrpc/com.atproto.label.queryLabels: the labels in force skytide holds for some subjects, in the lexicon's
// shape, so a person can check what skytide would hide or warn about. Public and read-only, as on a labeler.
// Parameters as the lexicon has them: `uriPatterns` (required, repeated; a full URI, or a prefix ending in `*`;
// `*` alone matches everything), `sources` (repeated DIDs), `limit` (1-250, default 50), `cursor` (opaque; present
// in the answer when the page is full). Bad parameters answer 400 `InvalidRequest`, as XRPC servers do; Postgres
// down, or no answer within the statement timeout (a lock held on `label`, a slow plan), 503 `dependency_unavailable`
// with Retry-After.
import type { Hono } from 'hono';
import type { Clock, Metrics, Sql } from '../../../functions/ports.ts';
import { isValidDid } from '../../../functions/atproto/syntax/did.ts';
import {
  decodeCursor,
  MAX_URI_PATTERNS,
  QUERY_LABELS_DEFAULT_LIMIT,
  QUERY_LABELS_MAX_LIMIT,
  QUERY_LABELS_TIMEOUT_MS,
  queryLabelsInTime,
  type QueryLabelsParams,
} from '../../../functions/label/query.ts';
import { DependencyError } from '../../../functions/errors.ts';
import { DeadlineError, withDeadline } from '../deadline.ts';

export interface LabelRouteDeps {
  sql: Sql;
  /** Counts a refused request (skytide_http_refused_total). */
  metrics?: Metrics;
  clock: Clock;
  /** The statement timeout of its queries (default QUERY_LABELS_TIMEOUT_MS). */
  timeoutMs?: number;
}

function parseParams(query: (name: string) => string[] | undefined): QueryLabelsParams | string {
  const patterns = query('uriPatterns') ?? [];
  if (patterns.length === 0) return 'uriPatterns is required';
  if (patterns.length > MAX_URI_PATTERNS) return `at most ${MAX_URI_PATTERNS} uriPatterns`;
  for (const p of patterns) {
    if (p.length === 0) return 'a uriPattern is empty';
    if (p.indexOf('*') !== -1 && p.indexOf('*') !== p.length - 1) return `invalid pattern: ${p} (only a trailing * is allowed)`;
  }
  const sources = query('sources') ?? [];
  const bad = sources.find((s) => !isValidDid(s));
  if (bad !== undefined) return `sources must be DIDs: ${bad}`;
  const rawLimit = query('limit')?.[0];
  let limit = QUERY_LABELS_DEFAULT_LIMIT;
  if (rawLimit !== undefined) {
    limit = /^\d+$/.test(rawLimit) ? Number(rawLimit) : NaN;
    if (!(limit >= 1 && limit <= QUERY_LABELS_MAX_LIMIT)) return `limit must be an integer from 1 to ${QUERY_LABELS_MAX_LIMIT}`;
  }
  const cursor = query('cursor')?.[0];
  if (cursor !== undefined && decodeCursor(cursor) === undefined) return 'invalid cursor';
  return { uriPatterns: patterns, limit, ...(sources.length > 0 ? { sources } : {}), ...(cursor === undefined ? {} : { cursor }) };
}

export function registerLabelRoutes(app: Hono, deps: LabelRouteDeps): void {
  app.get('/xrpc/com.atproto.label.queryLabels', async (c) => {
    const params = parseParams((name) => c.req.queries(name));
    if (typeof params === 'string') {
      deps.metrics?.inc('skytide_http_refused_total', { route: '/xrpc/com.atproto.label.queryLabels', reason: 'invalid_request' });
      return c.json({ error: 'InvalidRequest', message: params }, 400);
    }
    // Postgres down or past the timeout is answered by the app's error handler (app.ts): 503 with Retry-After. The
    // statement_timeout is the server's: a connection whose peer went silent (a failover's old primary, a dropped NAT
    // flow) never hears it, so the answer is also bounded here, a second later.
    const timeoutMs = deps.timeoutMs ?? QUERY_LABELS_TIMEOUT_MS;
    try {
      return c.json(await withDeadline(queryLabelsInTime(deps.sql, deps.clock, params, timeoutMs), timeoutMs + 1000, 'postgres (queryLabels)'));
    } catch (err) {
      if (!(err instanceof DeadlineError)) throw err;
      throw new DependencyError('postgres', `postgres did not answer queryLabels within ${timeoutMs} ms`, { timeoutMs }, { cause: err });
    }
  });
}
