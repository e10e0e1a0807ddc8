// app.bsky.graph.verification -> verification. Notifies the subject as the AppView does: 'verified' each time a
// verification is indexed where none was (its creation, and its re-creation after a delete: the AppView's insert
// notifies, whatever notifications the URI made before), 'unverified' each time an indexed one is edited or deleted
// (an edit sends no second 'verified'). Those follow every change the record goes through, so they are worked out in
// `versions` from all the batch's ops one at a time (processor.ts `transitions`): a verification made and withdrawn
// within one batch notifies both, as it would one event per batch. A replayed op is no transition (the rev rule).
import { deleteRows, insertRows } from '../rows.ts';
import { insertNotifications, sortAtOf, type Notification } from '../notifications.ts';
import { transitions } from '../transitions.ts';
import { createdAt, did, str } from './fields.ts';
import { rowsOf } from './shapes.ts';
import type { IndexedRecord, JsonObject, Plugin } from './types.ts';

const COLUMNS = {
  uri: 'text', cid: 'text', rkey: 'text', creator: 'text', subject: 'text', handle: 'text', displayName: 'text',
  createdAt: 'text', indexedAt: 'text',
} as const;

function shape(record: JsonObject | null): { subject: string; handle: string; displayName: string } | undefined {
  if (record === null) return undefined;
  const subject = did(record['subject']);
  const handle = str(record['handle']);
  const displayName = str(record['displayName']);
  return subject === undefined || handle === undefined || displayName === undefined ? undefined : { subject, handle, displayName };
}

const rowOf = (r: IndexedRecord) => {
  const s = shape(r.record);
  return s === undefined ? undefined : { uri: r.uri, cid: r.cid, rkey: r.rkey, creator: r.did, ...s, createdAt: createdAt(r.record['createdAt']), indexedAt: r.indexedAt };
};

export const verificationPlugin: Plugin = {
  collection: 'app.bsky.graph.verification',
  family: 'verification',
  async versions(tx, ops, _deltas, before) {
    const byUri = new Map<string, typeof ops[number][]>();
    for (const op of ops) byUri.set(op.uri, [...(byUri.get(op.uri) ?? []), op]);
    const out: Notification[] = [];
    for (const [uri, list] of byUri) {
      const creator = uri.split('/')[2] ?? '';
      for (const { from, fromCid, to } of transitions(before.get(uri), list)) {
        const was = shape(from);
        // The withdrawn verification's own CID, as the AppView writes it.
        if (was !== undefined) out.push({ did: was.subject, recordUri: uri, recordCid: fromCid, author: creator, reason: 'unverified', reasonSubject: null, sortAt: to.time });
        const now = to.type === 'delete' ? undefined : shape(to.record);
        // Only where nothing was indexed: an edit replaces the row, and the AppView's update notifies as a delete.
        if (now !== undefined && was === undefined && to.type !== 'delete') {
          out.push({ did: now.subject, recordUri: uri, recordCid: to.cid, author: creator, reason: 'verified', reasonSubject: null, sortAt: sortAtOf(createdAt(to.record['createdAt']), to.time) });
        }
      }
    }
    await insertNotifications(tx, out);
  },
  async insert(tx, records) {
    const { rows, invalid } = rowsOf(records, rowOf);
    await insertRows(tx, 'verification', COLUMNS, rows, { orderBy: 'uri', onConflict: '(uri) do nothing' });
    return invalid;
  },
  async remove(tx, uris) {
    await deleteRows(tx, 'verification', 'uri', uris);
  },
};
