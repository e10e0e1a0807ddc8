// app.bsky.graph.follow -> follow; profile_agg.followersCount of the subject and followsCount of the creator; a
// 'follow' notification to the subject.
import { sortAtOf } from '../notifications.ts';
import { NOTIFICATION_TABLE, SUBJECT_DID_COLUMNS, subjectDidRow } from './shapes.ts';
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
    NOTIFICATION_TABLE,
  ],
  rows(r) {
    const row = subjectDidRow(r);
    if (row === undefined) return undefined;
    // The AppView notifies every follow's subject (it has no self-follow exception).
    const notification = {
      did: row['subjectDid'] as string, recordUri: r.uri, recordCid: r.cid, author: r.did, reason: 'follow', reasonSubject: null,
      sortAt: sortAtOf(row['createdAt'] as string, r.indexedAt),
    };
    return { follow: [row], notification: [notification] };
  },
};
