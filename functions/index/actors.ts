// Actor-level rows from a batch: an actor row for every DID seen (never for a deleted one), handles (a handle moves to
// its new holder and is cleared from the old one; each DID whose handle an #identity set is marked in live_handle),
// upstream status mirrored from account_state (unknown statuses are stored as strings), and actor_sync, which only
// ever moves forward in rev.
import type { SqlExecutor, SqlValue } from '../ports.ts';
import { cleanText, rowSource } from './rows.ts';
import type { AggregateDeltas } from './aggregates.ts';
import type { CommitSeen } from './plan.ts';
import { isValidHandle } from '../atproto/syntax/handle.ts';

export interface HandleChange {
  did: string;
  /** The handle to store, or null for none. Raw: normalised and checked here. */
  handle: string | null;
  /** Order among this batch's claims: a handle claimed by two DIDs goes to the later claim. */
  seq: number;
  /**
   * A claim a later event of the same DID superseded: it takes the handle from whoever held it then, and sets
   * nothing of its own DID (whose handle is its latest event's).
   */
  earlier?: boolean;
  /**
   * The handle could not be verified (its own domain's server or DNS failing), but the DID's document was read: then
   * `handle` is what the document claims, and a stored handle other than it is cleared (the DID no longer claims it,
   * so it is invalid whatever its domain says), while the claim itself is left as stored, to be verified later.
   */
  unverifiedClaim?: boolean;
}

export interface ActorChanges {
  /** DIDs to keep an actor row for, with the time they were seen. */
  actors: ReadonlyMap<string, string>;
  /** DIDs whose handle is known for sure (verified, or taken from the event when nothing verifies). */
  handles: readonly HandleChange[];
  /** upstreamStatus of DIDs whose account status changed (null when active). */
  statuses: ReadonlyMap<string, string | null>;
  commits: ReadonlyMap<string, CommitSeen>;
}

/** A handle as stored: lowercase, valid syntax; `handle.invalid` and anything else unusable mean none. */
export function usableHandle(raw: string | null | undefined): string | null {
  if (raw === null || raw === undefined) return null;
  const handle = cleanText(raw).toLowerCase();
  return handle !== 'handle.invalid' && isValidHandle(handle) ? handle : null;
}

/**
 * Sets these handles as if their events were applied one at a time: each handle goes to its latest claim, and is
 * cleared from every other DID that held it; a DID keeps the handle of its latest event only if nobody claimed that
 * handle after it.
 */
export async function setHandles(tx: SqlExecutor, all: readonly HandleChange[]): Promise<void> {
  if (all.length === 0) return;
  const unclaimed = all.filter((c) => c.unverifiedClaim === true).map((c) => ({ did: c.did, handle: usableHandle(c.handle) }));
  if (unclaimed.length > 0) {
    await tx.query(
      `update actor set handle = null from json_to_recordset($1::text::json) as x(did text, handle text)
       where actor.did = x.did and actor.handle is not null and actor.handle is distinct from x.handle`,
      [JSON.stringify(unclaimed)],
    );
  }
  const changes = all.filter((c) => c.unverifiedClaim !== true);
  if (changes.length === 0) return;
  const claims = new Map<string, { did: string; seq: number }>();
  const handles = changes.map((c) => ({ did: c.did, handle: usableHandle(c.handle), seq: c.seq, earlier: c.earlier === true }));
  for (const h of handles) {
    if (h.handle === null) continue;
    const prev = claims.get(h.handle);
    if (prev === undefined || h.seq > prev.seq) claims.set(h.handle, { did: h.did, seq: h.seq });
  }
  // Every claimed handle leaves every DID but its latest claimant (who keeps it only if that claim is still its own).
  const taken = [...claims].map(([handle, { did }]) => ({ did, handle }));
  const rows = handles
    .filter((h) => !h.earlier)
    .map((h) => ({ did: h.did, handle: h.handle !== null && claims.get(h.handle)?.did === h.did ? h.handle : null }));
  if (taken.length > 0) {
    await tx.query(
      `update actor set handle = null from json_to_recordset($1::text::json) as x(did text, handle text)
       where actor.handle = x.handle and actor.did <> x.did`,
      [JSON.stringify(taken)],
    );
  }
  if (rows.length > 0) {
    await tx.query(
      `update actor set handle = x.handle from json_to_recordset($1::text::json) as x(did text, handle text)
       where actor.did = x.did and actor.handle is distinct from x.handle`,
      [JSON.stringify(rows)],
    );
  }
}

/** Writes the actor rows; `deltas`, when given, are applied in the same statement (one round trip less a batch). */
export async function writeActors(tx: SqlExecutor, changes: ActorChanges, deltas?: AggregateDeltas): Promise<void> {
  // NOTE: an actor row records when the DID was first seen; bumping it on every batch rewrote a row per active
  // account per batch, the largest write cost in the index benchmark.
  const actors = [...changes.actors].map(([did, indexedAt]) => ({ did, indexedAt }));
  const commits = [...changes.commits].map(([did, c]) => ({ did, commitCid: c.commit, repoRev: c.rev }));
  // actor, actor_sync and the aggregates in ONE statement (a CTE each).
  const params: SqlValue[] = [];
  const ctes: string[] = deltas?.ctes(params) ?? [];
  if (actors.length > 0) {
    ctes.push(
      `actors as (insert into actor (did, "indexedAt") select did, "indexedAt" from ${rowSource({ did: 'text', indexedAt: 'text' }, actors, params)}
       order by did on conflict (did) do nothing)`,
    );
  }
  if (commits.length > 0) {
    ctes.push(
      `syncs as (insert into actor_sync (did, "commitCid", "repoRev") select did, "commitCid", "repoRev"
       from ${rowSource({ did: 'text', commitCid: 'text', repoRev: 'text' }, commits, params)} order by did
       on conflict (did) do update set "commitCid" = excluded."commitCid", "repoRev" = excluded."repoRev"
       where actor_sync."repoRev" is null or actor_sync."repoRev" < excluded."repoRev")`,
    );
  }
  // The handles this batch stores from #identity events are marked on handle_clock, so a backfill whose DID document
  // was fetched before this keeps its hands off them (migration 0013, backfill-repo/account.ts).
  const live = [...new Set(changes.handles.filter((h) => h.earlier !== true).map((h) => h.did))].map((did) => ({ did }));
  if (live.length > 0) {
    ctes.push(
      `live as (insert into live_handle (did, tick) select did, nextval('handle_clock') from ${rowSource({ did: 'text' }, live, params)}
       order by did on conflict (did) do update set tick = excluded.tick)`,
    );
  }
  if (ctes.length > 0) await tx.query(`with ${ctes.join(', ')} select 1`, params);

  await setHandles(tx, changes.handles);

  if (changes.statuses.size > 0) {
    const statuses = [...changes.statuses].map(([did, status]) => ({ did, status: status === null ? null : cleanText(status) }));
    await tx.query(
      `update actor set "upstreamStatus" = x.status from json_to_recordset($1::text::json) as x(did text, status text)
       where actor.did = x.did and actor."upstreamStatus" is distinct from x.status`,
      [JSON.stringify(statuses)],
    );
  }
}
