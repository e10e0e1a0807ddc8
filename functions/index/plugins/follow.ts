// app.bsky.graph.follow -> follow; profile_agg.followersCount of the subject and followsCount of the creator.
import { deleteRows, insertRows } from '../rows.ts';
import { rowsOf, SUBJECT_DID_COLUMNS, subjectDidRow } from './shapes.ts';
import type { Plugin } from './types.ts';
import { deleteNotifications, insertNotifications, sortAtOf } from '../notifications.ts';
import { checkRows } from '../../sql-rows.ts';

export const followPlugin: Plugin = {
  collection: 'app.bsky.graph.follow',
  family: 'follow',
  async insert(tx, records, deltas) {
    const { rows, invalid } = rowsOf(records, subjectDidRow);
    const inserted = checkRows(await insertRows(
      tx, 'follow', SUBJECT_DID_COLUMNS, rows,
      { orderBy: 'uri', onConflict: '(uri) do nothing', returning: ['uri', 'cid', 'creator', 'subjectDid', 'createdAt', 'indexedAt'] },
    ), { uri: 'string', cid: 'string', creator: 'string', subjectDid: 'string', createdAt: 'string', indexedAt: 'string' });
    // The AppView notifies every follow's subject (it has no self-follow exception).
    await insertNotifications(tx, inserted.map((f) => ({
      did: f.subjectDid, recordUri: f.uri, recordCid: f.cid, author: f.creator, reason: 'follow', reasonSubject: null,
      sortAt: sortAtOf(f.createdAt, f.indexedAt),
    })));
    for (const row of inserted) {
      deltas.profile(row.subjectDid, 'followersCount', 1);
      deltas.profile(row.creator, 'followsCount', 1);
    }
    return invalid;
  },
  async remove(tx, uris, deltas) {
    const removed = checkRows(await deleteRows(tx, 'follow', 'uri', uris, ['uri', 'creator', 'subjectDid']), { uri: 'string', creator: 'string', subjectDid: 'string' });
    await deleteNotifications(tx, removed.map((r) => r.uri));
    for (const row of removed) {
      deltas.profile(row.subjectDid, 'followersCount', -1);
      deltas.profile(row.creator, 'followsCount', -1);
    }
  },
};
