// The `index` function: a batch of stream events becomes ONE Postgres transaction of multi-row upserts and deletes.
// Pure over its ports (sql, clock, log, metrics): it holds nothing between calls, so it runs in-process under the
// consumer, behind POST /functions/index, or in a Worker. It marks each event ok or dead (bad identifiers) and
// throws only when the database fails, so the caller retries the whole batch.
import type { StreamEvent } from '../events.ts';
import type { BasePorts, Sql, SqlExecutor } from '../ports.ts';
import type { BatchResult } from '../result.ts';
import { AggregateDeltas } from './aggregates.ts';
import { writeActors } from './actors.ts';
import { planBatch, type BatchPlan } from './plan.ts';
import pLimit from 'p-limit';
import type { IdentityResolver } from '../atproto/identity/did-document.ts';
import { verifiedHandle, type HandleResolver } from '../atproto/identity/handle.ts';
import { describeError } from '../errors.ts';
import { writeRecordRows } from './processor.ts';
import { PLUGINS, type IndexedRecord, type Plugin, type RecordFamily } from './plugins/index.ts';

export interface IndexPorts extends BasePorts {
  sql: Sql;
  /**
   * With both, an #identity event refreshes the DID document (and its cache) and its handle is kept only when it
   * resolves back to the DID; without them the handle is taken as the event says.
   */
  identity?: IdentityResolver;
  handles?: HandleResolver;
}

/** The handle of each #identity event, verified both ways; done before the transaction (it is network I/O). */
async function verifyIdentityHandles(plan: BatchPlan, ports: IndexPorts): Promise<void> {
  const { identity, handles } = ports;
  if (identity === undefined || handles === undefined) return;
  const limit = pLimit(8);
  await Promise.all(
    [...plan.identities].map(([did, event]) =>
      limit(async () => {
        let handle: string | undefined;
        try {
          handle = await verifiedHandle(await identity.resolve(did, { forceRefresh: true }), handles);
        } catch (err) {
          ports.log.warn('identity refresh failed', { did, err: describeError(err) });
        }
        const { handle: _claimed, ...rest } = event;
        plan.identities.set(did, handle === undefined ? rest : { ...rest, handle });
      }),
    ),
  );
}

interface Tally {
  indexed: number;
  stale: number;
  tombstoned: number;
  invalid: number;
}

export async function indexBatch(events: readonly StreamEvent[], ports: IndexPorts): Promise<BatchResult> {
  const plan = planBatch(events);
  await verifyIdentityHandles(plan, ports);
  const tallies = new Map<RecordFamily, Tally>();
  const tally = (family: RecordFamily) => {
    let t = tallies.get(family);
    if (t === undefined) tallies.set(family, (t = { indexed: 0, stale: 0, tombstoned: 0, invalid: 0 }));
    return t;
  };
  const familyOf = (collection: string) => PLUGINS.get(collection)?.family ?? 'other';
  let skippedInactive = 0;

  try {
    await ports.sql.transaction(async (tx) => {
      // Writes of accounts that are not active (takendown, suspended, deactivated, deleted) are not indexed; when an
      // account comes back it is resynced whole (account_active), so nothing written meanwhile is lost.
      const inactive = await inactiveAccounts(tx, plan);
      // Deletes always apply: removing an inactive account's data is never wrong.
      const winners = inactive.size === 0 ? plan.winners : plan.winners.filter((w) => w.event.type === 'delete' || !inactive.has(w.event.did));
      skippedInactive = plan.winners.length - winners.length;
      const { changed, inserted } = await writeRecordRows(tx, winners);
      const removals = new Map<Plugin, string[]>();
      const inserts = new Map<Plugin, IndexedRecord[]>();
      for (const { uri, event } of winners) {
        const t = tally(familyOf(event.collection));
        if (!changed.has(uri)) {
          t.stale++;
          continue;
        }
        if (event.type === 'delete') t.tombstoned++;
        else t.indexed++;
        const plugin = PLUGINS.get(event.collection);
        if (plugin === undefined) continue;
        // An update or delete purges the old typed rows; a record that had no row has none to purge.
        if (!inserted.has(uri)) push(removals, plugin, uri);
        if (event.type !== 'delete') {
          push(inserts, plugin, {
            uri, cid: event.cid, did: event.did, collection: event.collection, rkey: event.rkey,
            record: event.record, indexedAt: event.time,
          });
        }
      }
      const deltas = new AggregateDeltas();
      for (const [plugin, uris] of removals) await plugin.remove(tx, uris, deltas);
      for (const [plugin, records] of inserts) {
        const invalid = await plugin.insert(tx, records, deltas);
        if (invalid.length > 0) {
          const t = tally(plugin.family);
          t.invalid += invalid.length;
          t.indexed -= invalid.length;
        }
      }
      await deltas.apply(tx);
      await writeActors(tx, plan);
    });
  } catch (err) {
    ports.metrics.inc('skytide_index_batches_total', { outcome: 'error' });
    throw err;
  }

  ports.metrics.inc('skytide_index_batches_total', { outcome: 'ok' });
  if (skippedInactive > 0) ports.log.debug('writes of inactive accounts skipped', { count: skippedInactive });
  for (const [family, t] of tallies) {
    for (const outcome of ['indexed', 'stale', 'tombstoned', 'invalid'] as const) {
      if (t[outcome] > 0) ports.metrics.inc('skytide_index_records_total', { collection: family, outcome }, t[outcome]);
    }
  }
  const superseded = new Set(plan.superseded);
  events.forEach((event, i) => {
    const outcome = plan.outcomes[i]?.status === 'dead' ? 'dead' : superseded.has(i) ? 'stale' : 'ok';
    ports.metrics.inc('skytide_index_events_total', { type: event.type, outcome });
  });
  // An account that was deleted is confirmed by its PDS (getRepo answers RepoNotFound) in the resync, which then
  // removes its rows; an account that comes back may have written while it was away. Both are fetched whole.
  const resync: BatchResult['resync'] = [];
  for (const event of plan.accounts.values()) {
    if (event.status === 'deleted' || event.active) resync.push({ did: event.did, reason: event.active ? 'account_active' : 'account_deleted' });
  }
  return { outcomes: plan.outcomes, resync };
}

/** DIDs of this batch's record writes whose account is not active, after this batch's own #account events. */
async function inactiveAccounts(tx: SqlExecutor, plan: BatchPlan): Promise<Set<string>> {
  const dids = [...new Set(plan.winners.map((w) => w.event.did))];
  if (dids.length === 0) return new Set();
  const rows = await tx.query<{ did: string }>(
    `select did from actor where "upstreamStatus" is not null and did in (select json_array_elements_text($1::text::json))`,
    [JSON.stringify(dids)],
  );
  const inactive = new Set(rows.map((r) => r.did));
  for (const event of plan.accounts.values()) {
    if (event.active) inactive.delete(event.did);
    else inactive.add(event.did);
  }
  return inactive;
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}
