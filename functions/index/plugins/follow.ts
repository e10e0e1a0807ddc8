// app.bsky.graph.follow -> follow; profile_agg.followersCount of the subject and followsCount of the creator.
import { SUBJECT_DID_COLUMNS, subjectDidRow } from './shapes.ts';
import type { RowPlugin } from './types.ts';

export const followPlugin: RowPlugin = {
  collection: 'app.bsky.graph.follow',
  family: 'follow',
  tables: [
    {
      table: 'follow', columns: SUBJECT_DID_COLUMNS, key: 'uri', onConflict: '(uri) do nothing', returning: ['creator', 'subjectDid'],
      count(row, sign, deltas) {
        deltas.profile(row['subjectDid'] as string, 'followersCount', sign);
        deltas.profile(row['creator'] as string, 'followsCount', sign);
      },
    },
  ],
  rows(r) {
    const row = subjectDidRow(r);
    return row === undefined ? undefined : { follow: [row] };
  },
};
