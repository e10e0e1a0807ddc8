// app.bsky.feed.repost -> repost + a feed_item of type 'repost'; post_agg.repostCount of the subject; notifications
// (shapes.ts: subjectRefNotifications).
import { earliest } from './fields.ts';
import { FEED_ITEM_TABLE, NOTIFICATION_TABLE, SUBJECT_REF_COLUMNS, subjectRefNotificationRows, subjectRefRow } from './shapes.ts';
import type { RowPlugin } from './types.ts';

export const repostPlugin: RowPlugin = {
  collection: 'app.bsky.feed.repost',
  family: 'repost',
  tables: [
    {
      table: 'repost', columns: SUBJECT_REF_COLUMNS, key: 'uri', onConflict: '(uri) do nothing', returning: ['subject'],
      count: (row, sign, deltas) => deltas.post(row['subject'] as string, 'repostCount', sign),
    },
    FEED_ITEM_TABLE,
    NOTIFICATION_TABLE,
  ],
  rows(r) {
    const row = subjectRefRow(r);
    if (row === undefined) return undefined;
    const feedItem = { uri: r.uri, cid: r.cid, type: 'repost', postUri: row.subject, originatorDid: r.did, sortAt: earliest(row.createdAt, r.indexedAt) };
    return { repost: [row], feed_item: [feedItem], notification: subjectRefNotificationRows(row, 'repost') };
  },
};
