// The rev gate. One upsert per batch writes the winning op of every URI into `record` only where the stored rev is
// older (or equal, by the same total order as plan.ts), and returns the URIs it changed. Only those run plugins:
// a stale write changes nothing. A delete writes a tombstone (json = '', cid = '') carrying its rev even when no row
// existed, so an older create that arrives later cannot resurrect the record. The row lock this upsert takes on each
// URI serialises concurrent batches touching the same record until commit.
import type { SqlExecutor } from '../ports.ts';
import { insertRows } from './rows.ts';
import type { RecordOp } from './plan.ts';
import type { AggregateDeltas } from './aggregates.ts';
import { PLUGINS, type Plugin } from './plugins/index.ts';
import { collectionOf } from './plugins/fields.ts';

const RECORD = { uri: 'text', cid: 'text', did: 'text', json: 'text', rev: 'text', indexedAt: 'text' } as const;

// Same order as compareOps: rev, then tombstone over live, then larger cid; an identical op is not re-applied.
const NEWER =
  `record.rev < excluded.rev or (record.rev = excluded.rev and (` +
  `(excluded.json = '' and record.json <> '') or ((excluded.json = '') = (record.json = '') and excluded.cid > record.cid)))`;

export interface RecordChanges {
  /** URIs whose row this batch wrote. */
  changed: Set<string>;
  /** Of those, the URIs that had no row at all before: they have no typed rows to purge. */
  inserted: Set<string>;
}

export async function writeRecordRows(tx: SqlExecutor, winners: readonly RecordOp[]): Promise<RecordChanges> {
  const rows = winners.map(({ uri, event }) => ({
    uri,
    did: event.did,
    rev: event.rev,
    indexedAt: event.time,
    cid: event.type === 'delete' ? '' : event.cid,
    // NOTE: lex-JSON text as the AppView stores it; '' is the tombstone its readers already skip.
    json: event.type === 'delete' ? '' : JSON.stringify(event.record),
  }));
  const changed = await insertRows<{ uri: string; inserted: boolean }>(tx, 'record', RECORD, rows, {
    orderBy: 'uri',
    onConflict:
      `(uri) do update set cid = excluded.cid, did = excluded.did, json = excluded.json, rev = excluded.rev, ` +
      `"indexedAt" = excluded."indexedAt" where ${NEWER}`,
    // xmax = 0 marks a row this statement inserted rather than updated.
    returning: ['uri', '(xmax = 0) as inserted'],
  });
  return { changed: new Set(changed.map((r) => r.uri)), inserted: new Set(changed.filter((r) => r.inserted).map((r) => r.uri)) };
}

/** Removes the typed rows of these URIs (any collection; those without a plugin have none), counting what went. */
export async function removeTypedRows(tx: SqlExecutor, uris: readonly string[], deltas: AggregateDeltas): Promise<void> {
  const byPlugin = new Map<Plugin, string[]>();
  for (const uri of uris) {
    const plugin = PLUGINS.get(collectionOf(uri));
    if (plugin === undefined) continue;
    const list = byPlugin.get(plugin);
    if (list === undefined) byPlugin.set(plugin, [uri]);
    else list.push(uri);
  }
  for (const [plugin, list] of byPlugin) await plugin.remove(tx, list, deltas);
}
