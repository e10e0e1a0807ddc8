// POST /reprocess/:did: re-backfill one account now and answer with what changed (records created, updated,
// deleted, the rev, the time it took). What is not a DID, or can never resolve in atproto, answers 400. A repo that
// cannot be trusted answers 422 with the reason; its PDS failing (or anything else another try may mend) 502; an
// outage of our own dependencies (Postgres, Redis, the PLC directory, DNS) 503 with Retry-After, and nothing is
// recorded against the repo.
import type { Context, Hono } from 'hono';
import type { Metrics } from '../../../functions/ports.ts';
import { backfillRepos, type BackfillPorts } from '../../../functions/backfill-repo/handler.ts';
import { isValidDid, unresolvableDid } from '../../../functions/atproto/syntax/did.ts';
import { dependencyErrorIn } from '../../../functions/errors.ts';
import { requireBearer, type AuthOptions } from '../auth.ts';
import { answerOutage } from '../outage.ts';

/**
 * The DID as sent. A did:web with a port carries `%3A` in the DID itself (did:web:host%3A8443), which the router's
 * decoded param would turn into a colon, no DID: the raw path segment is the DID when it is one, and the decoded one
 * serves a client that percent-encoded the whole DID (did%3Aplc%3A...).
 */
function didSent(c: Context): string {
  const path = new URL(c.req.url).pathname;
  const raw = path.slice(path.lastIndexOf('/') + 1);
  return isValidDid(raw) ? raw : (c.req.param('did') ?? raw);
}

export function registerReprocessRoute(app: Hono, auth: AuthOptions, ports: BackfillPorts | undefined, metrics: Metrics): void {
  const refuse = (c: Context, message: string) => {
    metrics.inc('skytide_http_refused_total', { route: '/reprocess/:did', reason: 'invalid_did' });
    return c.json({ error: 'invalid_did', message }, 400);
  };
  app.post('/reprocess/:did', requireBearer(auth), async (c) => {
    const did = didSent(c);
    if (!isValidDid(did)) return refuse(c, `not a DID: ${JSON.stringify(did)}`);
    // A DID that can never resolve (another method, a did:plc that is not base32, a did:web that is no hostname) is
    // the request's own defect: 400 here, not the backfill's identity_failed, which answers 502 as if a retry could mend it.
    const never = unresolvableDid(did);
    if (never !== undefined) return refuse(c, `${did} can never resolve: ${never}`);
    if (ports === undefined) return c.json({ error: 'not_configured', message: 'backfill is not configured in this process' }, 503);
    let result: Awaited<ReturnType<typeof backfillRepos>>;
    try {
      result = await backfillRepos([{ did }], ports);
    } catch (err) {
      const outage = dependencyErrorIn(err);
      if (outage === undefined) throw err;
      return answerOutage(c, outage);
    }
    const outcome = result.outcomes[0];
    const report = result.reports[0];
    if (outcome === undefined || outcome.status === 'ok') return c.json(report);
    return c.json({ error: outcome.reason, message: outcome.message ?? outcome.reason, report }, outcome.status === 'dead' ? 422 : 502);
  });
}
