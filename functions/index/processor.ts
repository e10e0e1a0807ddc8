// The rev gate. One upsert per batch writes the winning op of every URI into `record` only where the stored rev is
// older (or equal, by the same total order as plan.ts), and returns the URIs it changed. Only those run plugins:
// a stale write changes nothing. A delete writes a tombstone row (json 'null', cid '') carrying its rev even when no
// row existed, which moves to `record_tombstone` before the transaction ends (tombstone.ts): `record` keeps live
// records only, as the AppView's does, and an older create that arrives later meets the tombstone and is stale. The
// row lock this upsert takes on each URI serialises concurrent batches touching the same record until commit.
import type { SqlExecutor, SqlValue } from '../ports.ts';
import type { RecordOp } from './plan.ts';
import type { AggregateDeltas } from './aggregates.ts';
import { isRowPlugin, PLUGINS, type Plugin, type RowPlugin } from './plugins/index.ts';
import { collectionOf } from './plugins/fields.ts';
import { stageSets } from './staging.ts';
import { describeRows, insertRowPluginRows, removeRowPluginRows } from './typed-rows.ts';
import type { Columns, Row } from './rows.ts';
import type { IndexedRecord } from './plugins/types.ts';
import { checkRows } from '../sql-rows.ts';
import { TOMBSTONE_JSON } from './tombstone.ts';
import { notifyingVersion, sameSubjects, type HandOvers } from './kept-notifications.ts';
import type { StoredOp } from './plugins/types.ts';
import { POST_COLLECTION } from './plugins/post-collection.ts';
import { REMEMBER_CONFLICT } from './post-removals.ts';

/** The batch's records written more than once whose notifications an update keeps, and what `record` held of them. */
export interface Chains {
  chained: ReadonlyMap<string, readonly RecordOp[]>;
  before: ReadonlyMap<string, StoredOp>;
  /** Where smaller records of a subject stopped naming it (kept-notifications.ts, handOverCandidates). */
  handOvers?: HandOvers;
}
const NO_CHAINS: Chains = { chained: new Map(), before: new Map() };

const RECORD = { uri: 'text', cid: 'text', did: 'text', json: 'text', rev: 'text', indexedAt: 'text' } as const;

// Same order as compareOps: rev, then tombstone over live, then larger cid; an identical op is not re-applied. The row
// met is always live: a delete's row leaves `record` in its own transaction (settleTombstones), so at the same rev a
// delete (cid '') wins and a write wins by a larger cid. Tombstones in record_tombstone are judged after the upsert.
const NEWER = `record.rev < excluded.rev or (record.rev = excluded.rev and (excluded.cid = '' or excluded.cid > record.cid))`;

export interface RecordChanges {
  /** URIs whose row this batch wrote. */
  changed: Set<string>;
  /** Of those, the URIs that had no row at all before: they have no typed rows to purge. */
  inserted: Set<string>;
  /** Per row plugin, the changed URIs whose records lack its shape (they keep only their `record` row). */
  invalid: Map<RowPlugin, string[]>;
  /** The URIs whose row plugin's main row was inserted (duplicates.ts need not look for theirs). */
  typed: Set<string>;
  /** Records whose notifications an earlier version of theirs makes (kept-notifications.ts): duplicates.ts too. */
  notifiedBy: ReadonlyMap<string, IndexedRecord>;
}

/**
 * The rev gate and the typed rows of every row plugin, in three statements: the batch's rows are staged once (one
 * COPY, or JSON parameters); ONE statement upserts `record` under the rev rule; ONE deletes the old typed rows of
 * every record it changed that had a row before (an update, a delete, a re-create); ONE inserts the typed rows of the
 * records it changed. Counts come from the rows those statements returned. Statement plugins (plugins/types.ts) are
 * left to the caller, with `changed` and `inserted`.
 */
export async function writeRecordRows(
  tx: SqlExecutor, winners: readonly RecordOp[], deltas: AggregateDeltas, chains: Chains = NO_CHAINS,
): Promise<RecordChanges> {
  if (winners.length === 0) return { changed: new Set(), inserted: new Set(), invalid: new Map(), typed: new Set(), notifiedBy: new Map() };
  const rows = winners.map(({ uri, event }) => ({
    uri,
    did: event.did,
    rev: event.rev,
    indexedAt: event.time,
    cid: event.type === 'delete' ? '' : event.cid,
    // NOTE: lex-JSON text as the AppView stores it, written out by the transport (rows.ts: rawText).
    json: event.type === 'delete' ? TOMBSTONE_JSON : event.record,
  }));
  // Typed rows of every live record with a row plugin, described before the gate (a stale one's are never read).
  const live = new Map<RowPlugin, IndexedRecord[]>();
  // Of the records written more than once in the batch whose notifications an update keeps (kept-notifications.ts):
  // those an earlier op notifies for, and those whose notifications made before the batch may stay.
  const notifiedBy = new Map<string, IndexedRecord>();
  const runFromBefore = new Set<string>();
  for (const winner of winners) {
    const { uri, event } = winner;
    const plugin = PLUGINS.get(event.collection);
    if (plugin === undefined || !isRowPlugin(plugin)) continue;
    if (event.type !== 'delete') {
      push(live, plugin, { uri, cid: event.cid, did: event.did, collection: event.collection, rkey: event.rkey, record: event.record, indexedAt: event.time });
      if (chains.chained.size > 0 && plugin.notifiedSubject !== undefined && chains.chained.has(uri)) {
        const version = notifyingVersion(plugin.notifiedSubject, winner, chains.chained, chains.before, chains.handOvers);
        if (version === 'before') runFromBefore.add(uri);
        else if (version !== undefined && version !== 'written') notifiedBy.set(uri, version);
      }
    }
  }
  const described = describeRows(live, notifiedBy);
  const sets = new Map<string, { columns: Columns; rows: readonly Row[] }>([['record', { columns: RECORD, rows }]]);
  for (const [name, { spec, rows: tableRows }] of described.tables) sets.set(name, { columns: spec.columns, rows: tableRows });
  const staged = await stageSets(tx, sets);

  const params: SqlValue[] = [];
  const names = Object.keys(RECORD).map((c) => `"${c}"`).join(', ');
  const result = checkRows(await tx.query(
    `insert into record (${names}) select ${names} from ${staged.source('record', RECORD, params)} order by uri ` +
      `on conflict (uri) do update set cid = excluded.cid, did = excluded.did, json = excluded.json, rev = excluded.rev, ` +
      `"indexedAt" = excluded."indexedAt" where ${NEWER} ` +
      // xmax = 0 marks a row this statement inserted rather than updated.
      `returning uri, (xmax = 0) as inserted`,
    params,
  ), { uri: 'string', inserted: 'boolean' });
  const changed = new Set<string>();
  const inserted = new Set<string>();
  for (const row of result) {
    changed.add(row.uri);
    if (row.inserted) inserted.add(row.uri);
  }
  await settleTombstones(tx, winners, changed, inserted);
  // The old typed rows of every changed record that had a row, in a statement of its own. NOTE: not as CTEs of the
  // upsert: when the upsert waits for a row a concurrent batch wrote (another loop indexing the same record), its
  // statement keeps the snapshot taken before the wait, and a removal there missed the rows that batch committed
  // meanwhile (seen: likes, reposts and their notifications and counts left behind a delete). A new statement sees them.
  const purge = new Map<RowPlugin, string[]>();
  // The updated records whose notifications stay if their new version names the same subject (kept-notifications.ts).
  const candidates: RecordOp[] = [];
  for (const winner of winners) {
    const { uri, event } = winner;
    if (!changed.has(uri) || inserted.has(uri)) continue;
    const plugin = PLUGINS.get(event.collection);
    if (plugin === undefined || !isRowPlugin(plugin)) continue;
    push(purge, plugin, uri);
    // A chained record keeps only when its run of ops began before the batch (kept-notifications.ts).
    if (!chains.chained.has(uri) || runFromBefore.has(uri)) candidates.push(winner);
  }
  // Read before the removal below takes the rows it reads.
  const kept = await sameSubjects(tx, candidates);
  await removeRowPluginRows(tx, purge, deltas, kept);
  const typed = await insertRowPluginRows(tx, described, staged, changed, deltas, kept);
  const invalid = new Map<RowPlugin, string[]>();
  for (const [plugin, uris] of described.invalid) {
    const mine = uris.filter((uri) => changed.has(uri));
    if (mine.length > 0) invalid.set(plugin, mine);
  }
  return { changed, inserted, invalid, typed, notifiedBy };
}

/**
 * The upsert above saw only `record`. An op it applied where `record_tombstone` holds a delete as new or newer is
 * stale: its row goes and it is no longer changed. In a statement of its own, after the upsert: when the upsert
 * waited on a concurrent batch that deleted the record (its tombstone row, then gone from `record` at its commit),
 * the upsert's snapshot did not see that batch's tombstone, this statement's does. A live record newer than a
 * tombstone removes it, so `record_tombstone` holds exactly the URIs whose last op is a delete, whatever the batch
 * boundaries. Then the deletes that won move from `record` to `record_tombstone`.
 */
async function settleTombstones(tx: SqlExecutor, winners: readonly RecordOp[], changed: Set<string>, inserted: Set<string>): Promise<void> {
  if (changed.size === 0) return;
  // NOTE: the changed URIs' tombstones are looked up first, each by its key, and `record` only for those found.
  // Joined the other way round, the planner read every changed URI's `record` row (15 ms a batch of 2,000); with
  // `uri = any(...)` over a small table it scanned it and compared each row with the whole list (10 ms).
  const stale = checkRows(await tx.query(
    `with t as materialized (select t.uri, t.rev from unnest($1::text[]) as k(uri) ` +
      `cross join lateral (select uri, rev from record_tombstone where uri = k.uri) as t), ` +
      `stale as (delete from record r using t where r.uri = t.uri and t.rev >= r.rev returning r.uri), ` +
      `superseded as (delete from record_tombstone x using t, record r where x.uri = t.uri and r.uri = t.uri and r.rev > t.rev and r.cid <> '' ` +
      `returning x.uri, x.did, x."indexedAt"), ` +
      // A post written again after its delete keeps the delete's time (post-removals.ts).
      `remembered as (insert into post_removal (uri, did, "removedAt") select uri, did, "indexedAt" from superseded ` +
      `where split_part(uri, '/', 4) = '${POST_COLLECTION}' order by uri ${REMEMBER_CONFLICT}) ` +
      `select uri from stale`,
    [[...changed]],
  ), { uri: 'string' });
  for (const { uri } of stale) {
    changed.delete(uri);
    inserted.delete(uri);
  }
  const deleted = winners.filter(({ uri, event }) => event.type === 'delete' && changed.has(uri)).map(({ uri }) => uri);
  if (deleted.length === 0) return;
  await tx.query(
    `with gone as (delete from record where uri = any($1::text[]) returning uri, did, rev, "indexedAt") ` +
      `insert into record_tombstone (uri, did, rev, "indexedAt") select uri, did, rev, "indexedAt" from gone order by uri ` +
      `on conflict (uri) do update set did = excluded.did, rev = excluded.rev, "indexedAt" = excluded."indexedAt" ` +
      `where record_tombstone.rev < excluded.rev`,
    [deleted],
  );
}

/** Removes the typed rows of these URIs (any collection; those without a plugin have none), counting what went. */
export async function removeTypedRows(tx: SqlExecutor, uris: readonly string[], deltas: AggregateDeltas): Promise<void> {
  const rowPlugins = new Map<RowPlugin, string[]>();
  const statementPlugins = new Map<Plugin, string[]>();
  for (const uri of uris) {
    const plugin = PLUGINS.get(collectionOf(uri));
    if (plugin === undefined) continue;
    if (isRowPlugin(plugin)) push(rowPlugins, plugin, uri);
    else push(statementPlugins, plugin, uri);
  }
  await removeRowPluginRows(tx, rowPlugins, deltas);
  for (const [plugin, list] of statementPlugins) await plugin.remove(tx, list, deltas);
  // Their duplicate entries too (duplicates.ts). Without promoting another record: this is an account's purge, and
  // a subject's duplicates are all records of the same account.
  const duplicable = uris.filter((uri) => PLUGINS.get(collectionOf(uri))?.unique !== undefined);
  if (duplicable.length > 0) await tx.query(`delete from duplicate_record where uri = any($1::text[])`, [duplicable]);
}

export function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}
