// The rev gate. One upsert per batch writes the winning op of every URI into `record` only where the stored rev is
// older (or equal, by the same total order as plan.ts), and returns the URIs it changed. Only those run plugins:
// a stale write changes nothing. A delete writes a tombstone (json = '', cid = '') carrying its rev even when no row
// existed, so an older create that arrives later cannot resurrect the record. The row lock this upsert takes on each
// URI serialises concurrent batches touching the same record until commit.
import type { SqlExecutor } from '../ports.ts';
import { insertRows } from './rows.ts';
import { compareOps, type RecordOp } from './plan.ts';
import type { RecordEvent } from '../events.ts';
import type { AggregateDeltas } from './aggregates.ts';
import { PLUGINS, type Plugin } from './plugins/index.ts';
import type { JsonObject, StoredOp } from './plugins/types.ts';
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

/** The `record` rows of these uris as they are now (before the batch writes them). */
export async function readStoredOps(tx: SqlExecutor, uris: readonly string[]): Promise<Map<string, StoredOp>> {
  const out = new Map<string, StoredOp>();
  if (uris.length === 0) return out;
  const rows = await tx.query<{ uri: string; rev: string; cid: string; json: string }>(
    `select uri, rev, cid, json from record where uri in (select json_array_elements_text($1::text::json))`, [JSON.stringify(uris)],
  );
  for (const r of rows) out.set(r.uri, { rev: r.rev, cid: r.cid, record: r.json === '' ? null : (JSON.parse(r.json) as JsonObject) });
  return out;
}

/**
 * The changes one record goes through when the batch's ops of it are applied one at a time in stream order under the
 * rev rule, starting from what `record` held: each op after the current one (compareOps) replaces it.
 */
export function transitions(stored: StoredOp | undefined, ops: readonly { position: number; event: RecordEvent }[]): { from: JsonObject | null; to: RecordEvent }[] {
  const out: { from: JsonObject | null; to: RecordEvent }[] = [];
  let current: RecordEvent | undefined;
  let record: JsonObject | null = stored?.record ?? null;
  for (const op of [...ops].sort((a, b) => a.position - b.position)) {
    const after = current !== undefined ? compareOps(op.event, current) > 0
      : stored === undefined || compareStored(op.event, stored) > 0;
    if (!after) continue;
    out.push({ from: record, to: op.event });
    current = op.event;
    record = op.event.type === 'delete' ? null : op.event.record;
  }
  return out;
}

function compareStored(e: RecordEvent, s: StoredOp): number {
  if (e.rev !== s.rev) return e.rev < s.rev ? -1 : 1;
  const ed = e.type === 'delete' ? 1 : 0;
  const sd = s.record === null ? 1 : 0;
  if (ed !== sd) return ed - sd;
  const ec = e.type === 'delete' ? '' : e.cid;
  return ec === s.cid ? 0 : ec < s.cid ? -1 : 1;
}
