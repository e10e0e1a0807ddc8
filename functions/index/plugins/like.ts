// app.bsky.feed.like -> "like"; post_agg.likeCount of the subject; notifications (shapes.ts: subjectRefNotifications).
import { NOTIFICATION_TABLE, SUBJECT_REF_COLUMNS, subjectRefNotificationRows, subjectRefRow } from './shapes.ts';
import type { RowPlugin } from './types.ts';

export const likePlugin: RowPlugin = {
  collection: 'app.bsky.feed.like',
  family: 'like',
  tables: [
    {
      table: 'like', columns: SUBJECT_REF_COLUMNS, key: 'uri', onConflict: '(uri) do nothing', returning: ['subject'],
      count: (row, sign, deltas) => deltas.post(row['subject'] as string, 'likeCount', sign),
    },
    NOTIFICATION_TABLE,
  ],
  rows(r) {
    const row = subjectRefRow(r);
    return row === undefined ? undefined : { like: [row], notification: subjectRefNotificationRows(row, 'like') };
  },
};
