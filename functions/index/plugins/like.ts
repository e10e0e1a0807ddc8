// app.bsky.feed.like -> "like"; post_agg.likeCount of the subject.
import { deleteRows, insertRows } from '../rows.ts';
import { rowsOf, SUBJECT_REF_COLUMNS, SUBJECT_REF_RETURNING, subjectRefNotifications, subjectRefRow, type SubjectRefRow } from './shapes.ts';
import { deleteNotifications, insertNotifications } from '../notifications.ts';
import type { Plugin } from './types.ts';

export const likePlugin: Plugin = {
  collection: 'app.bsky.feed.like',
  family: 'like',
  async insert(tx, records, deltas) {
    const { rows, invalid } = rowsOf(records, subjectRefRow);
    const inserted = await insertRows<SubjectRefRow>(tx, 'like', SUBJECT_REF_COLUMNS, rows, {
      orderBy: 'uri', onConflict: '(uri) do nothing', returning: SUBJECT_REF_RETURNING,
    });
    await insertNotifications(tx, subjectRefNotifications(inserted, 'like'));
    for (const row of inserted) deltas.post(row.subject, 'likeCount', 1);
    return invalid;
  },
  async remove(tx, uris, deltas) {
    const removed = await deleteRows<{ uri: string; subject: string }>(tx, 'like', 'uri', uris, ['uri', 'subject']);
    await deleteNotifications(tx, removed.map((r) => r.uri));
    for (const row of removed) deltas.post(row.subject, 'likeCount', -1);
  },
};
