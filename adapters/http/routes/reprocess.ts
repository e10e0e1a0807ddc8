// POST /reprocess/:did: re-backfill one account now and answer with what changed (records created, updated,
// deleted, the rev, the time it took). A repo that cannot be trusted answers 422 with the reason; an upstream that
// failed answers 502 so the caller may retry.
import type { Hono } from 'hono';
import { backfillRepos, type BackfillPorts } from '../../../functions/backfill-repo/handler.ts';
import { isValidDid } from '../../../functions/atproto/syntax/did.ts';
import { requireBearer, type AuthOptions } from '../auth.ts';

export function registerReprocessRoute(app: Hono, auth: AuthOptions, ports: BackfillPorts | undefined): void {
  app.post('/reprocess/:did', requireBearer(auth), async (c) => {
    const did = c.req.param('did');
    if (!isValidDid(did)) return c.json({ error: 'invalid_did', message: `not a DID: ${JSON.stringify(did)}` }, 400);
    if (ports === undefined) return c.json({ error: 'not_configured', message: 'backfill is not configured in this process' }, 503);
    const { outcomes, reports } = await backfillRepos([{ did }], ports);
    const outcome = outcomes[0];
    const report = reports[0];
    if (outcome === undefined || outcome.status === 'ok') return c.json(report);
    return c.json({ error: outcome.reason, message: outcome.message ?? outcome.reason, report }, outcome.status === 'dead' ? 422 : 502);
  });
}
