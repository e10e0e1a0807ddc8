// app.bsky.feed.repost -> repost + a feed_item of type 'repost'; post_agg.repostCount of the subject; notifications
// (shapes.ts: subjectRefNotifications). One row per reposter and post (the AppView's repost_unique_subject).
import { earliest } from './fields.ts';
import { FEED_ITEM_TABLE, NOTIFICATION_TABLE, SUBJECT_REF_COLUMNS, subjectRefNotificationRows, subjectRefRow, subjectRefUri } from './shapes.ts';
import type { RowPlugin, TableSpec } from './types.ts';

const tables: readonly TableSpec[] = [
  {
    // `do nothing` on any conflict: the URI's row already there, or the subject's holder (duplicates.ts).
    table: 'repost', columns: SUBJECT_REF_COLUMNS, key: 'uri', onConflict: 'do nothing', returning: ['subject'],
    count: (row, sign, deltas) => deltas.post(row['subject'] as string, 'repostCount', sign),
  },
  FEED_ITEM_TABLE,
  NOTIFICATION_TABLE,
];

const rows: RowPlugin['rows'] = (r) => {
  const row = subjectRefRow(r);
  if (row === undefined) return undefined;
  const feedItem = { uri: r.uri, cid: r.cid, type: 'repost', postUri: row.subject, originatorDid: r.did, sortAt: earliest(row.createdAt, r.indexedAt) };
  return { repost: [row], feed_item: [feedItem], notification: subjectRefNotificationRows(row, 'repost') };
};

export const repostPlugin: RowPlugin = {
  collection: 'app.bsky.feed.repost',
  family: 'repost',
  tables,
  rows,
  notifiedSubject: subjectRefUri,
  subjectRow: { table: 'repost', column: 'subject' },
  unique: { table: 'repost', columns: ['creator', 'subject'], tables, rows },
};
