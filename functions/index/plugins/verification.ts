// app.bsky.graph.verification -> verification. Notifies the subject 'verified' when indexed and 'unverified' when
// removed, as the AppView does (an edit is a removal and an insert: 'unverified', and no second 'verified').
import { deleteRows, insertRows } from '../rows.ts';
import { insertNotifications, sortAtOf, type Notification } from '../notifications.ts';
import { createdAt, did, str } from './fields.ts';
import { rowsOf } from './shapes.ts';
import type { Plugin } from './types.ts';

const COLUMNS = {
  uri: 'text', cid: 'text', rkey: 'text', creator: 'text', subject: 'text', handle: 'text', displayName: 'text',
  createdAt: 'text', indexedAt: 'text',
} as const;

type VerificationRow = {
  uri: string;
  cid: string;
  creator: string;
  subject: string;
  createdAt: string;
  indexedAt: string;
};

export const verificationPlugin: Plugin = {
  collection: 'app.bsky.graph.verification',
  family: 'verification',
  async insert(tx, records) {
    const { rows, invalid } = rowsOf(records, (r) => {
      const subject = did(r.record['subject']);
      const handle = str(r.record['handle']);
      const displayName = str(r.record['displayName']);
      if (subject === undefined || handle === undefined || displayName === undefined) return undefined;
      return { uri: r.uri, cid: r.cid, rkey: r.rkey, creator: r.did, subject, handle, displayName, createdAt: createdAt(r.record['createdAt']), indexedAt: r.indexedAt };
    });
    const fresh = await insertRows<VerificationRow>(tx, 'verification', COLUMNS, rows, {
      orderBy: 'uri', onConflict: '(uri) do nothing', returning: ['uri', 'cid', 'creator', 'subject', 'createdAt', 'indexedAt'],
    });
    if (fresh.length === 0) return invalid;
    // An edited verification already notified 'verified' once (the AppView sends no second one).
    const notified = new Set(
      (await tx.query<{ recordUri: string }>(
        `select "recordUri" from notification where reason = 'verified' and "recordUri" in (select json_array_elements_text($1::text::json))`,
        [JSON.stringify(fresh.map((v) => v.uri))],
      )).map((n) => n.recordUri),
    );
    await insertNotifications(tx, fresh.filter((v) => !notified.has(v.uri)).map((v): Notification => ({
      did: v.subject, recordUri: v.uri, recordCid: v.cid, author: v.creator, reason: 'verified', reasonSubject: null,
      sortAt: sortAtOf(v.createdAt, v.indexedAt),
    })));
    return invalid;
  },
  async remove(tx, uris, _deltas, times) {
    const gone = await deleteRows<VerificationRow>(tx, 'verification', 'uri', uris, ['uri', 'cid', 'creator', 'subject', 'indexedAt']);
    await insertNotifications(tx, gone.map((v): Notification => ({
      did: v.subject, recordUri: v.uri, recordCid: v.cid, author: v.creator, reason: 'unverified', reasonSubject: null,
      sortAt: times?.get(v.uri) ?? v.indexedAt,
    })));
  },
};
