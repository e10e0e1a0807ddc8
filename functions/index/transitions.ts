// The changes a record goes through within one batch, one op at a time, for the plugins whose every change matters
// (gates keep a history; verifications and starter-pack joins notify on particular changes): what `record` held
// before the batch, then each op that the rev rule would have let through, in stream order.
import type { SqlExecutor } from '../ports.ts';
import type { RecordEvent } from '../events.ts';
import { compareOps } from './plan.ts';
import type { JsonObject, StoredOp } from './plugins/types.ts';
import { checkRows } from '../sql-rows.ts';

/** The `record` rows of these uris as they are now (before the batch writes them). */
export async function readStoredOps(tx: SqlExecutor, uris: readonly string[]): Promise<Map<string, StoredOp>> {
  const out = new Map<string, StoredOp>();
  if (uris.length === 0) return out;
  // A URI has a live row or a tombstone: a newer live row removes the tombstone (processor.ts). Should a batch in
  // flight have left both for a moment, the newer one is what was stored.
  const rows = checkRows(await tx.query(
    `select uri, rev, cid, json, "indexedAt" from record where uri = any($1::text[]) ` +
      `union all select uri, rev, '' as cid, null as json, "indexedAt" from record_tombstone where uri = any($1::text[])`,
    [uris],
  ), { uri: 'string', rev: 'string', cid: 'string', json: 'string?', indexedAt: 'string?' });
  for (const r of rows) {
    const seen = out.get(r.uri);
    if (seen !== undefined && seen.rev >= r.rev) continue;
    const record = r.json === null ? null : (JSON.parse(r.json) as JsonObject);
    out.set(r.uri, r.indexedAt === null ? { rev: r.rev, cid: r.cid, record } : { rev: r.rev, cid: r.cid, record, indexedAt: r.indexedAt });
  }
  return out;
}

/** One op that changed a record: what it held before (null: nothing, or a tombstone), the op, and its batch position. */
export interface Transition {
  from: JsonObject | null;
  fromCid: string;
  to: RecordEvent;
  position: number;
}

/**
 * The changes one record goes through when the batch's ops of it are applied one at a time in stream order under the
 * rev rule, starting from what `record` held: each op after the current one (compareOps) replaces it.
 */
export function transitions(stored: StoredOp | undefined, ops: readonly { position: number; event: RecordEvent }[]): Transition[] {
  const out: Transition[] = [];
  let current: RecordEvent | undefined;
  let record: JsonObject | null = stored?.record ?? null;
  let cid = stored?.cid ?? '';
  for (const op of [...ops].sort((a, b) => a.position - b.position)) {
    const after = current !== undefined ? compareOps(op.event, current) > 0
      : stored === undefined || compareStored(op.event, stored) > 0;
    if (!after) continue;
    out.push({ from: record, fromCid: cid, to: op.event, position: op.position });
    current = op.event;
    record = op.event.type === 'delete' ? null : op.event.record;
    cid = op.event.type === 'delete' ? '' : op.event.cid;
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

/**
 * The ops the rev rule applies, one record at a time from what `record` held (`stored`; a record not read there, from
 * nothing): a batch delivered again after it committed keeps none of the ops it applied then.
 */
export function appliedOps<T extends { uri: string; position: number; event: RecordEvent }>(ops: readonly T[], stored: ReadonlyMap<string, StoredOp>): T[] {
  const out: T[] = [];
  for (const [uri, own] of opsByUri(ops)) {
    const applied = new Set(transitions(stored.get(uri), own).map((t) => t.position));
    for (const op of own) if (applied.has(op.position)) out.push(op);
  }
  return out.sort((a, b) => a.position - b.position);
}

/** Ops grouped by the record they change, each group in the order given. */
export function opsByUri<T extends { uri: string }>(ops: readonly T[]): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const op of ops) {
    const list = out.get(op.uri);
    if (list === undefined) out.set(op.uri, [op]);
    else list.push(op);
  }
  return out;
}

/**
 * What a record held just before `position` of the batch, by its transitions: the last one's record (null: deleted),
 * or undefined when none came before it (the record was then as stored before the batch).
 */
export function heldBefore(steps: readonly Transition[], position: number): JsonObject | null | undefined {
  let held: JsonObject | null | undefined;
  for (const step of steps) {
    if (step.position >= position) break;
    held = step.to.type === 'delete' ? null : step.to.record;
  }
  return held;
}
