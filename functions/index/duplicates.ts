// One row per subject, as the AppView keeps it (plugins/types.ts: UniqueSubject). A repo may hold two likes of one
// post, two follows of one account (clients double-tap, retry, race): the AppView's UNIQUE constraints let one of them
// hold the row, it keeps the others in `duplicate_record`, and its counts, listings and notifications see the holder
// only. Its holder is the first indexed; here it is the live record with the smallest URI. For the TID keys clients
// write, that is the one created first, the AppView's choice on the live stream and in a backfill alike; unlike
// arrival order, it is a function of the records alone, so batch boundaries, replays and backfills end the same.
//
// How a batch keeps it: the plugins insert with ON CONFLICT DO NOTHING, so a record whose subject already has a
// holder gets no row (nor notification, nor count). Then settleDuplicates, in one statement that usually returns
// nothing, finds the records that met a holder and the duplicates whose holder this batch removed or rewrote; only
// when it found some does it move rows: the smallest URI of each subject gets the holder's rows (counted, with its
// notifications), the holder it displaces loses them, and every other live record of the subject is a duplicate of it.
// Under a concurrent batch (two loops on one stream), the UNIQUE index orders the two inserts, and this statement,
// run after, sees the committed holder.
import type { SqlExecutor, SqlValue } from '../ports.ts';
import type { JsonObject } from '../events.ts';
import type { AggregateDeltas } from './aggregates.ts';
import type { RecordOp } from './plan.ts';
import { PLUGINS } from './plugins/index.ts';
import { collectionOf, uriParts } from './plugins/fields.ts';
import type { IndexedRecord, RowPlugin, UniqueSubject } from './plugins/types.ts';
import { q, rowSource, type Columns, type Row } from './rows.ts';
import { parameterSets } from './staging.ts';
import { push } from './processor.ts';
import { describeRows, insertRowPluginRows, removeRowPluginRows } from './typed-rows.ts';
import { checkRows } from '../sql-rows.ts';

/** The collections whose tables hold one row per subject, with how. */
export const UNIQUE_SUBJECTS: ReadonlyMap<string, UniqueSubject> = new Map(
  [...PLUGINS.values()].flatMap((p) => (p.unique === undefined ? [] : [[p.collection, p.unique] as const])),
);
/** The same, in a fixed order: their index names a CTE of the settle statement. */
const UNIQUES = [...UNIQUE_SUBJECTS.values()];

/** A record that may hold a subject: its URI, what `duplicate_record` keeps of it, and its rows when it is the holder. */
interface Member {
  uri: string;
  cid: string;
  indexedAt: string;
  record?: IndexedRecord;
}

interface Subject {
  unique: UniqueSubject;
  key: string[];
  /** The holder's row found in the table: undefined until looked up, null when the subject has none. */
  holder: Member | null | undefined;
  members: Member[];
  /** Holders that duplicates of this subject may still point at. */
  formerHolders: Set<string>;
}

const keyOf = (unique: UniqueSubject, rows: Readonly<Record<string, readonly Row[]>>): string[] | undefined => {
  const row = rows[unique.table]?.[0];
  if (row === undefined) return undefined;
  const key = unique.columns.map((c) => row[c]);
  return key.every((v): v is string => typeof v === 'string') ? key : undefined;
};

/** What the batch's writes did to the records it names. */
export interface BatchWrites {
  /** URIs whose `record` row the batch wrote. */
  changed: ReadonlySet<string>;
  /** Of those, the ones with no `record` row before: they had no duplicate entry either. */
  fresh: ReadonlySet<string>;
  /** URIs whose typed row the batch is known to have inserted: they hold their subject. */
  typed: ReadonlySet<string>;
}

/**
 * After every plugin wrote the batch's rows: the records of `changed` that met their subject's holder, and the
 * duplicates of records this batch removed or rewrote (`changed` but not `fresh`: they had a row before), settle as
 * the header says. `notifiedBy`: the records whose notification an earlier version of theirs in the batch makes.
 */
export async function settleDuplicates(
  tx: SqlExecutor, winners: readonly RecordOp[], writes: BatchWrites, deltas: AggregateDeltas, notifiedBy?: ReadonlyMap<string, IndexedRecord>,
): Promise<void> {
  const { changed, fresh, typed } = writes;
  const candidates = new Map<UniqueSubject, { member: Member; key: string[] }[]>();
  const rewritten: string[] = [];
  for (const { uri, event } of winners) {
    const unique = UNIQUE_SUBJECTS.get(event.collection);
    if (unique === undefined || !changed.has(uri)) continue;
    if (!fresh.has(uri)) rewritten.push(uri);
    if (event.type === 'delete' || typed.has(uri)) continue;
    const record: IndexedRecord = { uri, cid: event.cid, did: event.did, collection: event.collection, rkey: event.rkey, record: event.record, indexedAt: event.time };
    const rows = unique.rows(record);
    const key = rows === undefined ? undefined : keyOf(unique, rows);
    if (key === undefined) continue;
    const list = candidates.get(unique) ?? [];
    list.push({ member: { uri, cid: event.cid, indexedAt: event.time, record }, key });
    candidates.set(unique, list);
  }
  if (candidates.size === 0 && rewritten.length === 0) return;

  // ONE statement: the rewritten records' duplicate entries go (each is written again below if it still is one);
  // the candidates whose subject has another holder (their insert met it), with that holder; and the duplicates whose
  // holder was rewritten, with their records.
  const params: SqlValue[] = [rewritten];
  const ctes = [`cleared as (delete from duplicate_record where uri = any($1::text[]))`];
  const parts: string[] = [];
  UNIQUES.forEach((unique, t) => {
    const list = candidates.get(unique);
    if (list === undefined) return;
    const columns: Columns = Object.fromEntries([['uri', 'text'], ...unique.columns.map((c) => [c, 'text'])]);
    const rows = list.map(({ member, key }) => Object.fromEntries([['uri', member.uri], ...unique.columns.map((c, i) => [c, key[i] as string])]));
    const match = unique.columns.map((c) => `h.${q(c)} = x.${q(c)}`).join(' and ');
    ctes.push(
      `c${t} as (select x.uri, h.uri as holder, h.cid, h."indexedAt" from ${rowSource(columns, rows, params)} ` +
        // NOTE: `limit 1` (there is at most one row) keeps the lateral subquery a probe of the UNIQUE index per
        // candidate: flattened into a join, the planner hashed the whole table (23 ms a batch on 12,000 likes).
        `left join lateral (select uri, cid, "indexedAt" from ${q(unique.table)} h where ${match} limit 1) as h on true ` +
        `where h.uri is distinct from x.uri)`,
    );
    parts.push(`select ${t} as t, uri, holder, cid, "indexedAt", null::text as json from c${t}`);
  });
  parts.push(
    `select -1 as t, d.uri, d."duplicateOf" as holder, r.cid, r."indexedAt", r.json from duplicate_record d ` +
      `join record r on r.uri = d.uri where d."duplicateOf" = any($1::text[]) and d.uri <> all($1::text[])`,
  );
  const found = checkRows(
    await tx.query(`with ${ctes.join(', ')} ${parts.join(' union all ')}`, params),
    { t: 'number', uri: 'string', holder: 'string?', cid: 'string?', indexedAt: 'string?', json: 'string?' },
  );
  if (found.length === 0) return;

  const subjects = new Map<string, Subject>();
  const subjectOf = (unique: UniqueSubject, key: string[]): Subject => {
    const id = JSON.stringify([unique.table, ...key]);
    let s = subjects.get(id);
    if (s === undefined) subjects.set(id, (s = { unique, key, holder: undefined, members: [], formerHolders: new Set() }));
    return s;
  };
  // By URI: a bulk import may hold thousands of candidates and as many conflicts, and a scan per row was quadratic.
  const candidateByUri = new Map<UniqueSubject, Map<string, { member: Member; key: string[] }>>();
  for (const [unique, list] of candidates) candidateByUri.set(unique, new Map(list.map((c) => [c.member.uri, c])));
  for (const row of found) {
    if (row.t >= 0) {
      const unique = UNIQUES[row.t] as UniqueSubject;
      const candidate = candidateByUri.get(unique)?.get(row.uri);
      if (candidate === undefined) continue;
      const s = subjectOf(unique, candidate.key);
      s.members.push(candidate.member);
      s.holder = row.holder === null ? null : { uri: row.holder, cid: row.cid ?? '', indexedAt: row.indexedAt ?? '' };
      continue;
    }
    // A duplicate whose holder was rewritten: its record, as the plugin reads it.
    const parts = uriParts(row.uri);
    const unique = UNIQUE_SUBJECTS.get(collectionOf(row.uri));
    const json = row.json === null ? null : (JSON.parse(row.json) as unknown);
    if (parts === undefined || unique === undefined || json === null || typeof json !== 'object' || Array.isArray(json)) continue;
    const record: IndexedRecord = { ...parts, uri: row.uri, cid: row.cid ?? '', record: json as JsonObject, indexedAt: row.indexedAt ?? '' };
    const rows = unique.rows(record);
    const key = rows === undefined ? undefined : keyOf(unique, rows);
    if (key === undefined) continue;
    const s = subjectOf(unique, key);
    s.members.push({ uri: row.uri, cid: record.cid, indexedAt: record.indexedAt, record });
    if (row.holder !== null) s.formerHolders.add(row.holder);
  }
  await lookUpHolders(tx, [...subjects.values()].filter((s) => s.holder === undefined));

  // Per subject: the smallest URI holds it; the holder it displaces loses its rows; the rest are its duplicates.
  const removals = new Map<UniqueSubject, string[]>();
  const inserts = new Map<UniqueSubject, IndexedRecord[]>();
  const duplicates: Row[] = [];
  const repoint: Row[] = [];
  for (const s of subjects.values()) {
    const holder = s.holder ?? null;
    const all = holder === null ? s.members : [holder, ...s.members];
    const winner = all.reduce((a, b) => (b.uri < a.uri ? b : a));
    if (holder !== null && holder.uri !== winner.uri) {
      push(removals, s.unique, holder.uri);
      s.formerHolders.add(holder.uri);
    }
    if ((holder === null || holder.uri !== winner.uri) && winner.record !== undefined) push(inserts, s.unique, winner.record);
    for (const m of all) if (m !== winner) duplicates.push({ uri: m.uri, cid: m.cid, duplicateOf: winner.uri, indexedAt: m.indexedAt });
    for (const former of s.formerHolders) if (former !== winner.uri) repoint.push({ former, winner: winner.uri });
  }
  const asPlugin = (unique: UniqueSubject): RowPlugin => ({ collection: '', family: 'other', tables: unique.tables, rows: unique.rows });
  await removeRowPluginRows(tx, new Map([...removals].map(([u, uris]) => [asPlugin(u), uris])), deltas);
  if (inserts.size > 0) {
    // A candidate that holds its subject from an earlier version of the batch on notifies with that version
    // (kept-notifications.ts): one event at a time it took the rows there.
    const described = describeRows(new Map([...inserts].map(([u, records]) => [asPlugin(u), records])), notifiedBy);
    const sets = new Map([...described.tables].map(([name, { spec, rows }]) => [name, { columns: spec.columns, rows }]));
    const only = new Set([...inserts.values()].flat().map((r) => r.uri));
    await insertRowPluginRows(tx, described, parameterSets(sets), only, deltas);
  }
  // Duplicates that pointed at a former holder point at the new one; then every duplicate found here is written.
  // Two statements: one statement modifying a row twice (an update and an upsert of the same entry) is undefined.
  if (repoint.length > 0) {
    const p: SqlValue[] = [];
    await tx.query(
      `update duplicate_record d set "duplicateOf" = x.winner from ${rowSource({ former: "text", winner: "text" }, repoint, p)} ` +
        `where d."duplicateOf" = x.former`,
      p,
    );
  }
  // A duplicate that now holds its subject is one no longer (it pointed at itself after the update above).
  const promoted = [...inserts.values()].flat().map((r) => r.uri);
  if (duplicates.length > 0 || promoted.length > 0) {
    const p: SqlValue[] = [promoted];
    await tx.query(
      `with promoted as (delete from duplicate_record where uri = any($1::text[])) ` +
        `insert into duplicate_record (uri, cid, "duplicateOf", "indexedAt") select uri, cid, "duplicateOf", "indexedAt" from ` +
        `${rowSource({ uri: 'text', cid: 'text', duplicateOf: 'text', indexedAt: 'text' }, duplicates, p)} order by uri ` +
        `on conflict (uri) do update set cid = excluded.cid, "duplicateOf" = excluded."duplicateOf", "indexedAt" = excluded."indexedAt"`,
      p,
    );
  }
}

/** Fills in the holder row of subjects that have none yet (null when the table has no row for the subject). */
async function lookUpHolders(tx: SqlExecutor, subjects: readonly Subject[]): Promise<void> {
  const byUnique = new Map<UniqueSubject, Subject[]>();
  for (const s of subjects) {
    s.holder = null;
    push(byUnique, s.unique, s);
  }
  for (const [unique, list] of byUnique) {
    const params: SqlValue[] = [];
    const columns: Columns = Object.fromEntries(unique.columns.map((c) => [c, 'text']));
    const rows = list.map((s) => Object.fromEntries(unique.columns.map((c, i) => [c, s.key[i] as string])));
    const match = unique.columns.map((c) => `h.${q(c)} = x.${q(c)}`).join(' and ');
    const held = checkRows(await tx.query(
      `select h.uri, h.cid, h."indexedAt", ${unique.columns.map((c) => `h.${q(c)}`).join(', ')} from ${rowSource(columns, rows, params)} ` +
        `cross join lateral (select * from ${q(unique.table)} h where ${match} limit 1) as h`,
      params,
    ), { uri: 'string', cid: 'string', indexedAt: 'string' });
    const byKey = new Map(list.map((x) => [JSON.stringify(x.key), x]));
    for (const h of held) {
      const s = byKey.get(JSON.stringify(unique.columns.map((c) => (h as Record<string, unknown>)[c])));
      if (s !== undefined) s.holder = { uri: h.uri, cid: h.cid, indexedAt: h.indexedAt };
    }
  }
}
