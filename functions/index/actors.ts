// Actor-level state from a batch: an actor row for every DID seen, handles from #identity (a handle moves to its new
// holder and is cleared from the old one), upstream status from #account (unknown statuses are stored as strings),
// and actor_sync, which only ever moves forward in rev.
import type { SqlExecutor } from '../ports.ts';
import { insertRows, cleanText } from './rows.ts';
import type { BatchPlan } from './plan.ts';
import { isValidHandle } from '../atproto/syntax/handle.ts';

export async function writeActors(tx: SqlExecutor, plan: BatchPlan): Promise<void> {
  // NOTE: an actor row records when the DID was first seen; bumping it on every batch rewrote a row per active
  // account per batch, the largest write cost in the index benchmark.
  const actors = [...plan.actors].map(([did, indexedAt]) => ({ did, indexedAt }));
  await insertRows(tx, 'actor', { did: 'text', indexedAt: 'text' }, actors, { orderBy: 'did', onConflict: '(did) do nothing' });

  // One claim per handle: the latest identity event wins it; `handle.invalid` and bad syntax mean no handle.
  const claims = new Map<string, { did: string; seq: number }>();
  const handles: { did: string; handle: string | null }[] = [];
  for (const event of plan.identities.values()) {
    const handle = event.handle === undefined ? undefined : cleanText(event.handle).toLowerCase();
    const usable = handle !== undefined && handle !== 'handle.invalid' && isValidHandle(handle) ? handle : null;
    if (usable !== null) {
      const prev = claims.get(usable);
      if (prev === undefined || event.seq > prev.seq) claims.set(usable, { did: event.did, seq: event.seq });
    }
    handles.push({ did: event.did, handle: usable });
  }
  for (const h of handles) if (h.handle !== null && claims.get(h.handle)?.did !== h.did) h.handle = null;
  if (handles.length > 0) {
    const input = JSON.stringify(handles);
    await tx.query(
      `update actor set handle = null from json_to_recordset($1::text::json) as x(did text, handle text)
       where actor.handle = x.handle and actor.did <> x.did`,
      [input],
    );
    await tx.query(
      `update actor set handle = x.handle from json_to_recordset($1::text::json) as x(did text, handle text)
       where actor.did = x.did and actor.handle is distinct from x.handle`,
      [input],
    );
  }

  const statuses = [...plan.accounts.values()].map((e) => ({
    did: e.did,
    status: e.active ? null : cleanText(e.status ?? 'inactive'),
  }));
  if (statuses.length > 0) {
    await tx.query(
      `update actor set "upstreamStatus" = x.status from json_to_recordset($1::text::json) as x(did text, status text)
       where actor.did = x.did and actor."upstreamStatus" is distinct from x.status`,
      [JSON.stringify(statuses)],
    );
  }

  const commits = [...plan.commits].map(([did, c]) => ({ did, commitCid: c.commit, repoRev: c.rev }));
  await insertRows(tx, 'actor_sync', { did: 'text', commitCid: 'text', repoRev: 'text' }, commits, {
    orderBy: 'did',
    onConflict:
      `(did) do update set "commitCid" = excluded."commitCid", "repoRev" = excluded."repoRev" ` +
      `where actor_sync."repoRev" is null or actor_sync."repoRev" < excluded."repoRev"`,
  });
}
