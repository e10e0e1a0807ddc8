// The notification an updated record keeps. The AppView's update removes a record's row and writes it again, and for
// follows its notifsForDelete(deleted, replacedBy) then deletes nothing and makes nothing: the notification the
// record's first version made stays as it was (its recordCid and sortAt too). Here a plugin that keeps them
// (`notifiedSubject`, plugins/types.ts) keeps them while the record names the same subject: an update to another
// subject notifies that one (the AppView keeps notifying the old one), so that the notification is a function of the
// record's own ops under the holder rule (duplicates.ts), whatever the batch boundaries.
//
// Per record of such a plugin that the batch writes, one of: `kept`, the notification made before the batch stays
// (its remove() leaves it, its insert() keeps it when the row comes back for the same subject, else removes it);
// `first`, the notification is made by an earlier op of the batch (a follow made and updated within one batch
// notifies as its first version did); neither, the batch's write notifies as usual. Only records with more than one
// op in the batch need what `record` held before it (readStoredOps): a batch that updates no such record reads nothing.
import type { RecordOp } from './plan.ts';
import { compareOps } from './plan.ts';
import { PLUGINS } from './plugins/index.ts';
import { isRowPlugin, type IndexedRecord, type JsonObject, type StoredOp } from './plugins/types.ts';
import { transitions } from './transitions.ts';

export interface KeptNotifications {
  /** URIs whose notification made before the batch stays, if the row comes back naming the same subject. */
  kept: Set<string>;
  /** URIs whose notification an earlier op of the batch makes: that op's version. */
  first: Map<string, IndexedRecord>;
}

/** Whether a collection's records keep their notification through updates (a statement plugin's `notifiedSubject`). */
function keeps(collection: string): boolean {
  const plugin = PLUGINS.get(collection);
  return plugin !== undefined && !isRowPlugin(plugin) && plugin.notifiedSubject !== undefined;
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

/**
 * Where a written record's notification comes from (see the header). `had` says whether `record` held a live row of
 * it before the batch; `chained` and `before` are chainedOps and what `record` held for those URIs.
 */
export function noteKept(
  out: KeptNotifications, subjectOf: (record: JsonObject) => string | undefined, winner: RecordOp, had: boolean,
  chained: ReadonlyMap<string, readonly RecordOp[]>, before: ReadonlyMap<string, StoredOp>,
): void {
  const { uri, event } = winner;
  if (event.type === 'delete') return;
  const subject = subjectOf(event.record);
  if (subject === undefined) return;
  const ops = chained.get(uri);
  if (ops === undefined) {
    if (had) out.kept.add(uri);
    return;
  }
  // The batch's ops one at a time: the run of writes naming this subject that ends with the winner started where?
  const steps = transitions(before.get(uri), ops);
  let start = steps.length;
  while (start > 0) {
    const to = (steps[start - 1] as (typeof steps)[number]).to;
    if (to.type === 'delete' || subjectOf(to.record) !== subject) break;
    start--;
  }
  const opening = steps[start];
  if (opening === undefined) return; // the winner is not among them: nothing this batch applied
  if (start === 0 && opening.from !== null && subjectOf(opening.from) === subject) {
    if (had) out.kept.add(uri);
    return;
  }
  const to = opening.to;
  if (to.type === 'delete' || compareOps(to, event) === 0) return;
  out.first.set(uri, { uri, cid: to.cid, did: to.did, collection: to.collection, rkey: to.rkey, record: to.record, indexedAt: to.time, position: opening.position });
}
