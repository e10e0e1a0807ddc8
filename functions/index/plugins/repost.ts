// app.bsky.feed.repost -> repost + a feed_item of type 'repost'; post_agg.repostCount of the subject.
import { deleteRows, insertRows } from '../rows.ts';
import { createdAt, earliest, strongRef } from './fields.ts';
import type { Plugin } from './types.ts';

const COLUMNS = {
  uri: 'text', cid: 'text', creator: 'text', subject: 'text', subjectCid: 'text',
  via: 'text', viaCid: 'text', createdAt: 'text', indexedAt: 'text',
} as const;
const FEED_ITEM = { uri: 'text', cid: 'text', type: 'text', postUri: 'text', originatorDid: 'text', sortAt: 'text' } as const;

export const repostPlugin: Plugin = {
  collection: 'app.bsky.feed.repost',
  family: 'repost',
  async insert(tx, records, deltas) {
    const invalid: string[] = [];
    const rows = [];
    const feedItems = [];
    for (const r of records) {
      const subject = strongRef(r.record['subject']);
      if (subject === undefined) {
        invalid.push(r.uri);
        continue;
      }
      const via = strongRef(r.record['via']);
      const created = createdAt(r.record['createdAt']);
      rows.push({
        uri: r.uri, cid: r.cid, creator: r.did, subject: subject.uri, subjectCid: subject.cid,
        via: via?.uri ?? null, viaCid: via?.cid ?? null, createdAt: created, indexedAt: r.indexedAt,
      });
      feedItems.push({ uri: r.uri, cid: r.cid, type: 'repost', postUri: subject.uri, originatorDid: r.did, sortAt: earliest(created, r.indexedAt) });
    }
    const inserted = await insertRows<{ subject: string }>(tx, 'repost', COLUMNS, rows, {
      orderBy: 'uri', onConflict: '(uri) do nothing', returning: ['subject'],
    });
    for (const row of inserted) deltas.post(row.subject, 'repostCount', 1);
    await insertRows(tx, 'feed_item', FEED_ITEM, feedItems, { orderBy: 'uri', onConflict: '(uri) do nothing' });
    return invalid;
  },
  async remove(tx, uris, deltas) {
    const removed = await deleteRows<{ subject: string }>(tx, 'repost', 'uri', uris, ['subject']);
    for (const row of removed) deltas.post(row.subject, 'repostCount', -1);
    await deleteRows(tx, 'feed_item', 'uri', uris);
  },
};
