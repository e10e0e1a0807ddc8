// app.bsky.feed.repost -> repost + a feed_item of type 'repost'; post_agg.repostCount of the subject.
import { deleteRows, insertRows } from '../rows.ts';
import { earliest } from './fields.ts';
import { FEED_ITEM_COLUMNS, rowsOf, SUBJECT_REF_COLUMNS, SUBJECT_REF_RETURNING, subjectRefNotifications, subjectRefRow, type SubjectRefRow } from './shapes.ts';
import { deleteNotifications, insertNotifications } from '../notifications.ts';
import type { Plugin } from './types.ts';

export const repostPlugin: Plugin = {
  collection: 'app.bsky.feed.repost',
  family: 'repost',
  async insert(tx, records, deltas) {
    const { rows, invalid } = rowsOf(records, subjectRefRow);
    const inserted = await insertRows<SubjectRefRow>(tx, 'repost', SUBJECT_REF_COLUMNS, rows, {
      orderBy: 'uri', onConflict: '(uri) do nothing', returning: SUBJECT_REF_RETURNING,
    });
    await insertNotifications(tx, subjectRefNotifications(inserted, 'repost'));
    for (const row of inserted) deltas.post(row.subject, 'repostCount', 1);
    const feedItems = rows.map((r) => ({
      uri: r['uri'] as string, cid: r['cid'] as string, type: 'repost', postUri: r.subject, originatorDid: r['creator'] as string,
      sortAt: earliest(r.createdAt, r['indexedAt'] as string),
    }));
    await insertRows(tx, 'feed_item', FEED_ITEM_COLUMNS, feedItems, { orderBy: 'uri', onConflict: '(uri) do nothing' });
    return invalid;
  },
  async remove(tx, uris, deltas) {
    const removed = await deleteRows<{ uri: string; subject: string }>(tx, 'repost', 'uri', uris, ['uri', 'subject']);
    await deleteNotifications(tx, removed.map((r) => r.uri));
    for (const row of removed) deltas.post(row.subject, 'repostCount', -1);
    await deleteRows(tx, 'feed_item', 'uri', uris);
  },
};
