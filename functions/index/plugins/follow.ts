// app.bsky.graph.follow -> follow; profile_agg.followersCount of the subject and followsCount of the creator.
import { deleteRows, insertRows } from '../rows.ts';
import { rowsOf, SUBJECT_DID_COLUMNS, subjectDidRow } from './shapes.ts';
import type { Plugin } from './types.ts';

export const followPlugin: Plugin = {
  collection: 'app.bsky.graph.follow',
  family: 'follow',
  async insert(tx, records, deltas) {
    const { rows, invalid } = rowsOf(records, subjectDidRow);
    const inserted = await insertRows<{ creator: string; subjectDid: string }>(tx, 'follow', SUBJECT_DID_COLUMNS, rows, {
      orderBy: 'uri', onConflict: '(uri) do nothing', returning: ['creator', 'subjectDid'],
    });
    for (const row of inserted) {
      deltas.profile(row.subjectDid, 'followersCount', 1);
      deltas.profile(row.creator, 'followsCount', 1);
    }
    return invalid;
  },
  async remove(tx, uris, deltas) {
    const removed = await deleteRows<{ creator: string; subjectDid: string }>(tx, 'follow', 'uri', uris, ['creator', 'subjectDid']);
    for (const row of removed) {
      deltas.profile(row.subjectDid, 'followersCount', -1);
      deltas.profile(row.creator, 'followsCount', -1);
    }
  },
};
