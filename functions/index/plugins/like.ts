// app.bsky.feed.like -> "like"; post_agg.likeCount of the subject.
import { deleteRows, insertRows } from '../rows.ts';
import { createdAt, strongRef } from './fields.ts';
import type { Plugin } from './types.ts';

const COLUMNS = {
  uri: 'text', cid: 'text', creator: 'text', subject: 'text', subjectCid: 'text',
  via: 'text', viaCid: 'text', createdAt: 'text', indexedAt: 'text',
} as const;

export const likePlugin: Plugin = {
  collection: 'app.bsky.feed.like',
  family: 'like',
  async insert(tx, records, deltas) {
    const invalid: string[] = [];
    const rows = [];
    for (const r of records) {
      const subject = strongRef(r.record['subject']);
      if (subject === undefined) {
        invalid.push(r.uri);
        continue;
      }
      const via = strongRef(r.record['via']);
      rows.push({
        uri: r.uri, cid: r.cid, creator: r.did, subject: subject.uri, subjectCid: subject.cid,
        via: via?.uri ?? null, viaCid: via?.cid ?? null, createdAt: createdAt(r.record['createdAt']), indexedAt: r.indexedAt,
      });
    }
    const inserted = await insertRows<{ subject: string }>(tx, 'like', COLUMNS, rows, {
      orderBy: 'uri', onConflict: '(uri) do nothing', returning: ['subject'],
    });
    for (const row of inserted) deltas.post(row.subject, 'likeCount', 1);
    return invalid;
  },
  async remove(tx, uris, deltas) {
    const removed = await deleteRows<{ subject: string }>(tx, 'like', 'uri', uris, ['subject']);
    for (const row of removed) deltas.post(row.subject, 'likeCount', -1);
  },
};
