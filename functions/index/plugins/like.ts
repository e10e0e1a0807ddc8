// app.bsky.feed.like -> "like"; post_agg.likeCount of the subject; notifications (shapes.ts: subjectRefNotifications).
// One row per liker and post (the AppView's like_unique_subject): a second like of the same post is a duplicate.
import { NOTIFICATION_TABLE, SUBJECT_REF_COLUMNS, subjectRefNotificationRows, subjectRefRow, subjectRefUri } from './shapes.ts';
import type { RowPlugin, TableSpec } from './types.ts';

const tables: readonly TableSpec[] = [
  {
    // `do nothing` on any conflict: the URI's row already there, or the subject's holder (duplicates.ts).
    table: 'like', columns: SUBJECT_REF_COLUMNS, key: 'uri', onConflict: 'do nothing', returning: ['subject'],
    count: (row, sign, deltas) => deltas.post(row['subject'] as string, 'likeCount', sign),
  },
  NOTIFICATION_TABLE,
];

const rows: RowPlugin['rows'] = (r) => {
  const row = subjectRefRow(r);
  return row === undefined ? undefined : { like: [row], notification: subjectRefNotificationRows(row, 'like') };
};

export const likePlugin: RowPlugin = {
  collection: 'app.bsky.feed.like',
  family: 'like',
  tables,
  rows,
  notifiedSubject: subjectRefUri,
  subjectRow: { table: 'like', column: 'subject' },
  unique: { table: 'like', columns: ['subject', 'creator'], tables, rows },
};
