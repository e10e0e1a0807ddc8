// app.bsky.graph.follow -> follow; profile_agg.followersCount of the subject and followsCount of the creator.
// The AppView notifies every follow's subject (it has no self-follow exception): the notification rows are written
// from the follow rows the same statement inserted, and removed with the follow rows, one statement each way.
// One row per follower and followed account (the AppView's follow_unique_subject): a second follow is a duplicate.
import { deleteStatement, insertStatement } from '../rows.ts';
import { rowsOf, SUBJECT_DID_COLUMNS, subjectDidRow } from './shapes.ts';
import type { Plugin, TableSpec, UniqueSubject } from './types.ts';
import { NOTIFICATION_COLUMNS, sortAtOf } from '../notifications.ts';
import type { SqlValue } from '../../ports.ts';
import { checkRows } from '../../sql-rows.ts';

const FOLLOW_COUNTED = { creator: 'string', subjectDid: 'string' } as const;

/** The follow table and the counts a row carries: the subject's followers, the creator's follows. */
const FOLLOW_TABLE = {
  table: 'follow', columns: SUBJECT_DID_COLUMNS, key: 'uri', onConflict: 'do nothing', returning: ['creator', 'subjectDid'],
  count: (row, sign, deltas) => {
    deltas.profile(row['subjectDid'] as string, 'followersCount', sign);
    deltas.profile(row['creator'] as string, 'followsCount', sign);
  },
} satisfies TableSpec;

/** A follow's rows as the holder of its pair (duplicates.ts): the follow, counted, and its notification. */
const unique: UniqueSubject = {
  table: 'follow',
  columns: ['creator', 'subjectDid'],
  tables: [
    FOLLOW_TABLE,
    { table: 'notification', columns: NOTIFICATION_COLUMNS, key: 'recordUri', dependent: true, removeOnly: `reason = 'follow'` } satisfies TableSpec,
  ],
  rows(r) {
    const row = subjectDidRow(r);
    if (row === undefined) return undefined;
    const notification = {
      did: row['subjectDid'] as string, recordUri: r.uri, recordCid: r.cid, author: r.did, reason: 'follow', reasonSubject: null,
      sortAt: sortAtOf(row['createdAt'] as string, r.indexedAt),
    };
    return { follow: [row], notification: [notification] };
  },
};

export const followPlugin: Plugin = {
  collection: 'app.bsky.graph.follow',
  family: 'follow',
  unique,
  async insert(tx, records, deltas) {
    const { rows, invalid } = rowsOf(records, subjectDidRow);
    if (rows.length === 0) return invalid;
    const params: SqlValue[] = [];
    const follows = insertStatement({
      table: 'follow', columns: SUBJECT_DID_COLUMNS, rows, orderBy: 'uri', onConflict: FOLLOW_TABLE.onConflict, returning: Object.keys(SUBJECT_DID_COLUMNS),
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
    for (const row of inserted) FOLLOW_TABLE.count(row, 1, deltas);
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
    for (const row of removed) FOLLOW_TABLE.count(row, -1, deltas);
  },
};
