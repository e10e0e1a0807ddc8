// app.bsky.graph.follow -> follow; profile_agg.followersCount of the subject and followsCount of the creator.
// The AppView notifies every follow's subject (it has no self-follow exception): the notification rows are written
// from the follow rows the same statement inserted, and removed with the follow rows, one statement each way.
import { deleteStatement, insertStatement } from '../rows.ts';
import { rowsOf, SUBJECT_DID_COLUMNS, subjectDidRow } from './shapes.ts';
import type { Plugin } from './types.ts';
import type { SqlValue } from '../../ports.ts';
import { checkRows } from '../../sql-rows.ts';

const FOLLOW_COUNTED = { creator: 'string', subjectDid: 'string' } as const;

export const followPlugin: Plugin = {
  collection: 'app.bsky.graph.follow',
  family: 'follow',
  async insert(tx, records, deltas) {
    const { rows, invalid } = rowsOf(records, subjectDidRow);
    if (rows.length === 0) return invalid;
    const params: SqlValue[] = [];
    const follows = insertStatement({
      table: 'follow', columns: SUBJECT_DID_COLUMNS, rows, orderBy: 'uri', onConflict: '(uri) do nothing', returning: Object.keys(SUBJECT_DID_COLUMNS),
    }, params);
    // sortAt as sortAtOf (notifications.ts) has it: the earlier of the two, compared by code point.
    const inserted = checkRows(await tx.query(
      `with f as (${follows}),
       n as (insert into notification (did, "recordUri", "recordCid", author, reason, "reasonSubject", "sortAt")
         select "subjectDid", uri, cid, creator, 'follow', null, least("createdAt" collate "C", "indexedAt" collate "C") from f
         order by uri)
       select creator, "subjectDid" from f`,
      params,
    ), FOLLOW_COUNTED);
    for (const row of inserted) {
      deltas.profile(row.subjectDid, 'followersCount', 1);
      deltas.profile(row.creator, 'followsCount', 1);
    }
    return invalid;
  },
  async remove(tx, uris, deltas) {
    if (uris.length === 0) return;
    const removed = checkRows(await tx.query(
      `with f as (${deleteStatement({ table: 'follow', column: 'uri', returning: ['uri', 'creator', 'subjectDid'] })}),
       n as (delete from notification where "recordUri" in (select uri from f))
       select creator, "subjectDid" from f`,
      [uris],
    ), FOLLOW_COUNTED);
    for (const row of removed) {
      deltas.profile(row.subjectDid, 'followersCount', -1);
      deltas.profile(row.creator, 'followsCount', -1);
    }
  },
};
