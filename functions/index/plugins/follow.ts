// app.bsky.graph.follow -> follow; profile_agg.followersCount of the subject and followsCount of the creator.
// The AppView notifies every follow's subject (it has no self-follow exception): the notification rows are written
// from the follow rows the same statement inserted, and removed with the follow rows, one statement each way.
// One row per follower and followed account (the AppView's follow_unique_subject): a second follow is a duplicate.
// An update keeps the notification the follow's first version made, as the AppView's does, while it follows the same
// account (notifiedSubject, kept-notifications.ts): only a batch that updates a follow adds to these statements.
import { deleteStatement, insertStatement, rowSource } from '../rows.ts';
import { did } from './fields.ts';
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
    // `kept`: a follow taking its pair's rows notifies with the version that notified (duplicates.ts, notifiedBy).
    { table: 'notification', columns: NOTIFICATION_COLUMNS, key: 'recordUri', dependent: true, removeOnly: `reason = 'follow'`, kept: true } satisfies TableSpec,
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

/** A notification made by an earlier version than the row's (kept-notifications.ts `first`): its CID and sortAt. */
const FIRST_COLUMNS = { uri: 'text', cid: 'text', sortAt: 'text' } as const;

export const followPlugin: Plugin = {
  collection: 'app.bsky.graph.follow',
  family: 'follow',
  unique,
  notifiedSubject: (record) => did(record['subject']),
  subjectRow: { table: 'follow', column: 'subjectDid' },
  async insert(tx, records, deltas, batch) {
    const { rows, invalid } = rowsOf(records, subjectDidRow);
    if (rows.length === 0) return invalid;
    const params: SqlValue[] = [];
    const follows = insertStatement({
      table: 'follow', columns: SUBJECT_DID_COLUMNS, rows, orderBy: 'uri', onConflict: FOLLOW_TABLE.onConflict, returning: Object.keys(SUBJECT_DID_COLUMNS),
    }, params);
    // sortAt as sortAtOf (notifications.ts) has it: the earlier of the two, compared by code point.
    let cid = 'f.cid';
    let sortAt = 'least(f."createdAt" collate "C", f."indexedAt" collate "C")';
    let from = 'f';
    const ctes = [`f as (${follows})`];
    // Only a batch that updates a follow or writes one twice adds to the statement (kept-notifications.ts).
    const firsts = batch?.first === undefined ? [] : records.flatMap((r) => {
      const first = batch.first?.get(r.uri);
      const row = first === undefined ? undefined : subjectDidRow(first);
      return first === undefined || row === undefined ? [] : [{ uri: r.uri, cid: first.cid, sortAt: sortAtOf(row['createdAt'] as string, first.indexedAt) }];
    });
    if (firsts.length > 0) {
      from = `f left join ${rowSource(FIRST_COLUMNS, firsts, params)} on x.uri = f.uri`;
      cid = 'coalesce(x.cid, f.cid)';
      sortAt = `coalesce(x."sortAt", ${sortAt})`;
    }
    const kept = batch?.kept === undefined ? [] : records.filter((r) => batch.kept?.has(r.uri) === true).map((r) => r.uri);
    let where = '';
    if (kept.length > 0) {
      // A kept follow (its row before the batch followed the same account: sameSubjects) keeps the notification it made,
      // if it still has one, when its row came back; otherwise that notification goes.
      params.push(kept);
      const k = `$${params.length}::text[]`;
      ctes.push(
        `k as (select f.uri as "recordUri" from f where f.uri = any(${k}))`,
        `gone as (delete from notification where "recordUri" = any(${k}) and reason = 'follow' and "recordUri" not in (select "recordUri" from k))`,
      );
      where = ` where f.uri not in (select "recordUri" from k)`;
    }
    ctes.push(
      `n as (insert into notification (did, "recordUri", "recordCid", author, reason, "reasonSubject", "sortAt")
         select f."subjectDid", f.uri, ${cid}, f.creator, 'follow', null, ${sortAt} from ${from}${where}
         order by f.uri)`,
    );
    const inserted = checkRows(await tx.query(`with ${ctes.join(', ')} select creator, "subjectDid" from f`, params), FOLLOW_COUNTED);
    for (const row of inserted) FOLLOW_TABLE.count(row, 1, deltas);
    return invalid;
  },
  async remove(tx, uris, deltas, options) {
    if (uris.length === 0) return;
    const kept = options?.kept;
    // A kept follow's notification is insert()'s to judge (kept-notifications.ts).
    const keep = kept === undefined || kept.size === 0 ? [] : uris.filter((uri) => kept.has(uri));
    const removed = checkRows(await tx.query(
      `with f as (${deleteStatement({ table: 'follow', column: 'uri', returning: ['uri', 'creator', 'subjectDid'] })}),
       n as (delete from notification where "recordUri" in (select uri from f)${keep.length > 0 ? ` and "recordUri" <> all($2::text[])` : ''})
       select creator, "subjectDid" from f`,
      keep.length > 0 ? [uris, keep] : [uris],
    ), FOLLOW_COUNTED);
    for (const row of removed) FOLLOW_TABLE.count(row, -1, deltas);
  },
};
