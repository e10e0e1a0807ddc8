// The notifications an updated record keeps. The AppView's update removes a record's row and writes it again, and for
// follows, likes and reposts its notifsForDelete(deleted, replacedBy) then deletes nothing and makes nothing: the
// notifications the record's first version made stay as they were (recordCid and sortAt too; a via a like gains later
// notifies nobody). Here a plugin that keeps them (`notifiedSubject`, plugins/types.ts: follow, like, repost) keeps
// them while the record names the same subject: one updated to name another notifies as a new one (the AppView keeps
// the old ones), so that the notifications are a function of the record's own ops under the holder rule
// (duplicates.ts), whatever the batch boundaries (kept across a subject change, they would hang on which records held
// which subject between two events of one batch).
//
// Per record of such a plugin that the batch writes, one of: `kept`, the notifications made before the batch stay
// (its row before the batch named the same subject, sameSubjects; the removal leaves them, the insert keeps them when
// the row comes back and writes none, even where they are gone, as after its subject's account deletion);
// `first`, an earlier op of the batch makes them (a follow made and updated within one batch notifies as its first
// version did); neither, the batch's write notifies as usual. Only records with more than one distinct op in the
// batch need what `record` held before it (readStoredOps), and only a batch that updates such a record adds to the
// statements (sameSubjects' read): the usual batch, which updates none, runs the same statements as before.
import type { SqlExecutor } from '../ports.ts';
import { checkRows } from '../sql-rows.ts';
import type { RecordOp } from './plan.ts';
import { q } from './rows.ts';
import { compareOps } from './plan.ts';
import { PLUGINS } from './plugins/index.ts';
import type { IndexedRecord, JsonObject, StoredOp } from './plugins/types.ts';
import { opsByUri, transitions } from './transitions.ts';

export interface KeptNotifications {
  /** URIs whose notification made before the batch stays, if the row comes back naming the same subject. */
  kept: Set<string>;
  /** URIs whose notification an earlier op of the batch makes: that op's version. */
  first: Map<string, IndexedRecord>;
}

/** Whether a collection's records keep their notification through updates (its plugin's `notifiedSubject`). */
function keeps(collection: string): boolean {
  const plugin = PLUGINS.get(collection);
  return plugin?.notifiedSubject !== undefined;
}

/** The counted ops of such records that hold more than one distinct op in the batch, by URI (`winners`: one per URI). */
export function chainedOps(counted: readonly RecordOp[], winners: number): Map<string, RecordOp[]> {
  // The usual batch: one op per URI, nothing to group.
  if (counted.length === winners) return new Map();
  let byUri: Map<string, RecordOp[]> | undefined;
  for (const op of counted) {
    if (!keeps(op.event.collection)) continue;
    byUri ??= new Map();
    const list = byUri.get(op.uri);
    if (list === undefined) byUri.set(op.uri, [op]);
    else list.push(op);
  }
  const out = new Map<string, RecordOp[]>();
  for (const [uri, list] of byUri ?? []) {
    // A replayed op is the same op: only a second distinct one makes a chain.
    if (list.some((op) => compareOps(op.event, (list[0] as RecordOp).event) !== 0)) out.set(uri, list);
  }
  return out;
}

/** Where a record stopped naming a subject in the batch (deleted, or edited to name another): `HandOvers`. */
interface Leave {
  uri: string;
  position: number;
}

/** By `${did} ${collection} ${subject}`: where the batch's records of that repo and collection stopped naming it. */
export type HandOvers = ReadonlyMap<string, readonly Leave[]>;

const pairKey = (did: string, collection: string, subject: string) => `${did} ${collection} ${subject}`;

/**
 * The records whose notifying version may be another record's doing. One event at a time, a duplicate becomes its
 * subject's holder (duplicates.ts: the live record with the smallest URI) where the last smaller record naming that
 * subject stops naming it, and notifies with the version it holds then; in one batch the first version of its run
 * stood in. Only a record with more than one version within the batch's reach can have held another then: one
 * written twice here (chained), or an update. Returns such records with their ops (to chain them: notifyingVersion
 * reads them), and the smaller records of their repo and collection that the batch deletes or updates (their stored
 * versions are read to see what they named). Usually both are empty: no statement is added.
 */
export function handOverCandidates(
  counted: readonly RecordOp[], winners: readonly RecordOp[], chained: ReadonlyMap<string, readonly RecordOp[]>,
): { records: Map<string, RecordOp[]>; others: Set<string> } {
  const records = new Map<string, RecordOp[]>();
  const others = new Set<string>();
  const candidates = winners.filter(({ uri, event }) => event.type !== 'delete' && keeps(event.collection) && (event.type === 'update' || chained.has(uri)));
  if (candidates.length === 0) return { records, others };
  // The largest candidate URI per repo and collection: a leaving record below it may hand a subject over.
  const largest = new Map<string, string>();
  for (const { uri, event } of candidates) {
    const key = `${event.did} ${event.collection}`;
    const seen = largest.get(key);
    if (seen === undefined || seen < uri) largest.set(key, uri);
  }
  for (const { uri, event } of counted) {
    if (event.type === 'create') continue;
    const top = largest.get(`${event.did} ${event.collection}`);
    if (top !== undefined && uri < top) others.add(uri);
  }
  if (others.size === 0) return { records, others };
  for (const { uri } of candidates) records.set(uri, []);
  for (const op of counted) records.get(op.uri)?.push(op);
  return { records, others };
}

/** Where each of `others` stopped naming a subject in the batch, from what `record` held before it. */
export function leavesOf(counted: readonly RecordOp[], others: ReadonlySet<string>, before: ReadonlyMap<string, StoredOp>): HandOvers {
  const out = new Map<string, Leave[]>();
  if (others.size === 0) return out;
  for (const [uri, ops] of opsByUri(counted.filter((op) => others.has(op.uri)))) {
    const { did, collection } = (ops[0] as RecordOp).event;
    const subjectOf = PLUGINS.get(collection)?.notifiedSubject;
    if (subjectOf === undefined) continue;
    for (const t of transitions(before.get(uri), ops)) {
      const was = t.from === null ? undefined : subjectOf(t.from);
      const now = t.to.type === 'delete' ? undefined : subjectOf(t.to.record);
      if (was === undefined || was === now) continue;
      const key = pairKey(did, collection, was);
      const list = out.get(key);
      if (list === undefined) out.set(key, [{ uri, position: t.position }]);
      else list.push({ uri, position: t.position });
    }
  }
  return out;
}

/**
 * Which version of a written record notifies (see the header): `before`, the one indexed before the batch (its
 * notification stays, if it made one); `written`, the batch's winning op, as usual; or an earlier op of the batch.
 * Undefined for a delete or a record that names no subject. `chained` and `before` are chainedOps and what `record`
 * held for those URIs.
 */
export function notifyingVersion(
  subjectOf: (record: JsonObject) => string | undefined, winner: RecordOp,
  chained: ReadonlyMap<string, readonly RecordOp[]>, before: ReadonlyMap<string, StoredOp>, handOvers?: HandOvers,
): 'before' | 'written' | IndexedRecord | undefined {
  const { uri, event } = winner;
  if (event.type === 'delete') return undefined;
  const subject = subjectOf(event.record);
  if (subject === undefined) return undefined;
  const ops = chained.get(uri);
  if (ops === undefined) return 'before';
  // The batch's ops one at a time: the run of writes naming this subject that ends with the winner started where?
  const steps = transitions(before.get(uri), ops);
  let start = steps.length;
  while (start > 0) {
    const to = (steps[start - 1] as (typeof steps)[number]).to;
    if (to.type === 'delete' || subjectOf(to.record) !== subject) break;
    start--;
  }
  const opening = steps[start];
  if (opening === undefined) return 'written'; // the winner is not among them: nothing this batch applied
  const fromBefore = start === 0 && opening.from !== null && subjectOf(opening.from) === subject;
  // A smaller record of the subject that stopped naming it after the run began handed the subject over to this one
  // there (handOverCandidates): the version it held then notifies.
  const joined = fromBefore ? -Infinity : opening.position;
  let handOver = -Infinity;
  for (const leave of handOvers?.get(pairKey(event.did, event.collection, subject)) ?? []) {
    if (leave.uri < uri && leave.position > joined && leave.position > handOver) handOver = leave.position;
  }
  if (handOver > -Infinity) {
    const held = steps.slice(start).filter((t) => t.position < handOver).at(-1);
    if (held === undefined) {
      // Not written here before the hand-over: the version indexed before the batch.
      const stored = before.get(uri);
      if (stored?.record == null || stored.indexedAt === undefined) return 'written';
      return { uri, cid: stored.cid, did: event.did, collection: event.collection, rkey: event.rkey, record: stored.record, indexedAt: stored.indexedAt, position: handOver };
    }
    const to = held.to;
    if (to.type === 'delete' || compareOps(to, event) === 0) return 'written';
    return { uri, cid: to.cid, did: to.did, collection: to.collection, rkey: to.rkey, record: to.record, indexedAt: to.time, position: handOver };
  }
  if (fromBefore) return 'before';
  const to = opening.to;
  if (to.type === 'delete' || compareOps(to, event) === 0) return 'written';
  return { uri, cid: to.cid, did: to.did, collection: to.collection, rkey: to.rkey, record: to.record, indexedAt: to.time, position: opening.position };
}

/** notifyingVersion, noted in `out`; `had`: `record` held a live row of it before the batch. */
export function noteKept(
  out: KeptNotifications, subjectOf: (record: JsonObject) => string | undefined, winner: RecordOp, had: boolean,
  chained: ReadonlyMap<string, readonly RecordOp[]>, before: ReadonlyMap<string, StoredOp>, handOvers?: HandOvers,
): void {
  const version = notifyingVersion(subjectOf, winner, chained, before, handOvers);
  if (version === 'before') {
    if (had) out.kept.add(winner.uri);
  } else if (version !== undefined && version !== 'written') out.first.set(winner.uri, version);
}

/**
 * Of these updated records, those whose row before the batch (still there: read before the removal) names the subject
 * their new version names. Only they keep their notifications: the AppView's update makes none, so a record whose old
 * notifications are gone (its subject's account deleted) gets none back, and one that now names another subject
 * notifies as new (the README's difference). One statement, and only for a batch that updates such records.
 */
export async function sameSubjects(tx: SqlExecutor, ops: readonly RecordOp[]): Promise<Set<string>> {
  const candidates: { uri: string; subject: string | undefined; subjectRow: { table: string; column: string } }[] = [];
  for (const { uri, event } of ops) {
    const plugin = PLUGINS.get(event.collection);
    if (event.type === 'delete' || plugin?.notifiedSubject === undefined || plugin.subjectRow === undefined) continue;
    candidates.push({ uri, subject: plugin.notifiedSubject(event.record), subjectRow: plugin.subjectRow });
  }
  if (candidates.length === 0) return new Set();
  const byTable = new Map<string, { column: string; uris: string[] }>();
  for (const c of candidates) {
    const entry = byTable.get(c.subjectRow.table);
    if (entry === undefined) byTable.set(c.subjectRow.table, { column: c.subjectRow.column, uris: [c.uri] });
    else entry.uris.push(c.uri);
  }
  const params: string[][] = [];
  const parts = [...byTable].map(([table, { column, uris }]) => {
    params.push(uris);
    return `select uri, ${q(column)} as subject from ${q(table)} where uri = any($${params.length}::text[])`;
  });
  const held = new Map(checkRows(await tx.query(parts.join(' union all '), params), { uri: 'string', subject: 'string' }).map((r) => [r.uri, r.subject]));
  return new Set(candidates.filter((c) => c.subject !== undefined && held.get(c.uri) === c.subject).map((c) => c.uri));
}
