// app.bsky.feed.like -> "like"; post_agg.likeCount of the subject.
import { deleteRows, insertRows } from '../rows.ts';
import { rowsOf, SUBJECT_REF_COLUMNS, subjectRefRow } from './shapes.ts';
import type { Plugin } from './types.ts';

export const likePlugin: Plugin = {
  collection: 'app.bsky.feed.like',
  family: 'like',
  async insert(tx, records, deltas) {
    const { rows, invalid } = rowsOf(records, subjectRefRow);
    const inserted = await insertRows<{ subject: string }>(tx, 'like', SUBJECT_REF_COLUMNS, rows, {
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
