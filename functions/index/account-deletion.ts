// A confirmed account deletion (its PDS answers RepoNotFound, or the PLC directory tombstoned its DID), and its undoing
// by a later valid repo (issue 8, items 7 and 8). What it promises:
// - After purgeAccount no AppView table holds a row of the DID: actor, actor_sync, record (and record_tombstone),
//   every typed row, feed items and embeds, its profile_agg and the post_agg rows of its records, even those that
//   other accounts' likes created. The counts its records fed on other accounts' rows are corrected by the same
//   deltas an ordinary delete applies.
// - An answer is no deletion once the account came back after it was asked for: purgeAccount yields to a current
//   #account change that is active and later than the answer (RepoNotFound and a tombstone alike).
// - The marker is repo_sync.status = 'deleted': while it stands the index applies no event of the DID, live or
//   backfill, and no aggregate delta whose subject belongs to it (aggregates.ts). It is not a rev, so nothing has to
//   "beat" it: restoreAccount lifts it when the DID's PDS serves a valid repo again.
// - restoreAccount recounts the DID's subjects from the rows other accounts still hold (likes, reposts, replies,
//   quotes of its records; follows of it), so that the repo indexed next adds exactly its own rows on top.
// Both take the index lock exclusively for their few statements, so no batch applies a delta between the marker
// and the rows it guards. The records themselves go in chunks under the shared lock, like any batch.
import type { Sql } from '../ports.ts';
import { AggregateDeltas } from './aggregates.ts';
import { applyChange, currentChange } from './account-state.ts';
import { holdIndexLock, lockAccounts, NO_FACTS, readAccountFacts, syncStatus, writeAccountStates } from './account-store.ts';
import { removeTypedRows } from './processor.ts';
import { deleteRows } from './rows.ts';
import { rejudgeQuotes, rejudgeThreads } from './gates.ts';
import { checkRows } from '../sql-rows.ts';

// NOTE: the table named `like` is a reserved word, quoted; kept in a constant so that no line of this module reads like
// an import of a package called "like" (tests/unit/infra/container.test.ts scans for those).
const LIKE_TABLE = '"like"';

/** Records removed per transaction while a deleted account is purged. */
export const PURGE_CHUNK = 1000;

// The rows of a deleted account ($1) that its records leave behind, found by the DID in their URIs (each served by an
// index on that expression, migration 0017; post_agg's by 0003).
export const PURGE_GATE_VERSIONS = `delete from gate_version where split_part("postUri", '/', 3) = $1 returning kind, "postUri"`;
export const PURGE_OP_REPLIES = `delete from op_thread_reply where split_part(uri, '/', 3) = $1`;

/**
 * What confirmed a deletion, kept as repo_sync.reason beside the marker; `Forgotten`: no deletion, the operator's
 * `skytide forget` of a DID the filters drop (its rows go as a deletion's do, and a backfill brings them back alike).
 */
export type DeletionProof = 'RepoNotFound' | 'DidTombstoned' | 'Forgotten';

/** The live records the index holds of a DID (its record rows), and its repo_sync status, if any. */
export async function heldOf(sql: Sql, did: string): Promise<{ records: number; status: string | null }> {
  const rows = checkRows(await sql.query(
    `select (select count(*) from record where did = $1)::int as records, (select status from repo_sync where did = $1) as status`,
    [did],
  ), { records: 'number', status: 'string?' });
  return rows[0] ?? { records: 0, status: null };
}

/**
 * Marks the DID deleted at `time` (when its PDS answered RepoNotFound, or the PLC directory answered it tombstoned:
 * `proof`) and removes every row of it; returns how many live records it had. Unless the account's current #account
 * change is active and later than `time`: a reactivation the live path indexed after the answer was asked for, with
 * the writes after it, stands (the answer is older than it), and the account_active resync it queued asks again.
 * Returns undefined then, with nothing changed. The check and the marker share the exclusive index lock, so no batch
 * comes between them.
 */
export async function purgeAccount(sql: Sql, did: string, time: string, proof: DeletionProof): Promise<number | undefined> {
  const marked = await sql.transaction(async (tx) => {
    await holdIndexLock(tx, 'exclusive');
    await lockAccounts(tx, [did]);
    const history = [...((await readAccountFacts(tx, [did])).get(did) ?? NO_FACTS).history];
    const current = currentChange(history);
    if (current !== undefined && current.active && current.time > time) return false;
    await tx.query(
      `insert into repo_sync (did, status, reason, "updatedAt") values ($1, 'deleted', $3, $2)
       on conflict (did) do update set status = 'deleted', reason = excluded.reason, "updatedAt" = excluded."updatedAt"`,
      [did, time, proof],
    );
    // The PDS (or the directory) has just confirmed it: the deletion becomes the current change, even over a
    // newer-looking one.
    applyChange(history, { time: current !== undefined && current.time > time ? current.time : time, active: false, status: 'deleted' });
    await writeAccountStates(tx, new Map([[did, history]]));
    await tx.query(
      `insert into deleted_subject (did, uri) select $1::text, uri from post_agg where split_part(uri, '/', 3) = $1::text order by uri on conflict do nothing`,
      [did],
    );
    await tx.query(`delete from post_agg where split_part(uri, '/', 3) = $1`, [did]);
    await tx.query(`delete from profile_agg where did = $1`, [did]);
    await tx.query(`delete from actor_sync where did = $1`, [did]);
    await tx.query(`delete from actor where did = $1`, [did]);
    return true;
  });
  if (!marked) return undefined;
  let live = 0;
  for (;;) {
    const removed = await sql.transaction(async (tx) => {
      await holdIndexLock(tx, 'shared');
      // A restore that won a race with this purge (the PDS served the repo after all) ends the purge.
      if ((await syncStatus(tx, did)) !== 'deleted') return 0;
      const rows = checkRows(await tx.query(
        // NOTE: no ORDER BY: with an index on did alone, sorting would read every remaining row of the account per
        // chunk. Nothing else writes this DID's rows now (the marker is set), so lock order does not matter here.
        `select uri from record where did = $1 limit ${PURGE_CHUNK}`,
        [did],
      ), { uri: 'string' });
      const deltas = new AggregateDeltas();
      await removeTypedRows(tx, rows.map((r) => r.uri), deltas);
      await deltas.apply(tx);
      await deleteRows(tx, 'record', 'uri', rows.map((r) => r.uri));
      live += rows.length;
      return rows.length;
    });
    if (removed < PURGE_CHUNK) break;
  }
  // What its records leave behind: the gate history of its posts, and notifications to it or from it (a removed
  // verification just wrote an 'unverified' one).
  await sql.transaction(async (tx) => {
    await holdIndexLock(tx, 'shared');
    if ((await syncStatus(tx, did)) !== 'deleted') return;
    await tx.query(`delete from record_tombstone where did = $1`, [did]);
    await tx.query(`delete from post_removal where did = $1`, [did]);
    await tx.query(`delete from reply_gate where did = $1`, [did]);
    const gone = checkRows(await tx.query(PURGE_GATE_VERSIONS, [did]), { kind: 'string', postUri: 'string' });
    // Other accounts' replies and quotes under its posts are judged again, now without its gates.
    const deltas = new AggregateDeltas();
    await rejudgeThreads(tx, [...new Set(gone.filter((g) => g.kind === 'thread').map((g) => g.postUri))], deltas);
    await rejudgeQuotes(tx, [...new Set(gone.filter((g) => g.kind === 'post').map((g) => g.postUri))]);
    await deltas.apply(tx);
    await tx.query(`delete from notification where did = $1 or author = $1`, [did]);
    await tx.query(PURGE_OP_REPLIES, [did]);
  });
  return live;
}

/**
 * Lifts the deletion marker of a DID whose PDS serves a valid repo again, and recounts its subjects from the rows;
 * returns false when the DID was not deleted (nothing to do). The repo is indexed afterwards by the caller.
 */
export async function restoreAccount(sql: Sql, did: string, time: string): Promise<boolean> {
  return sql.transaction(async (tx) => {
    await holdIndexLock(tx, 'exclusive');
    if ((await syncStatus(tx, did)) !== 'deleted') return false;
    // The snapshot it had before the deletion no longer bounds anything: its history was wiped.
    await tx.query(`update repo_sync set status = 'in-progress', rev = null, "dataCid" = null, reason = null, "updatedAt" = $2 where did = $1`, [did, time]);
    await tx.query(
      `insert into post_agg (uri, "likeCount", "replyCount", "repostCount", "quoteCount")
       select uri, likes, replies, reposts, quotes from (
         select s.uri,
           (select count(*) from ${LIKE_TABLE} l where l.subject = s.uri) as likes,
           -- As the post plugin counts them (and the AppView): a reply that breaks its thread's gate does not count.
           (select count(*) from post p where p."replyParent" = s.uri and p."violatesThreadGate" is not true) as replies,
           (select count(*) from repost r where r.subject = s.uri) as reposts,
           (select count(*) from quote q where q.subject = s.uri) as quotes
         from deleted_subject s where s.did = $1) as c
       where likes + replies + reposts + quotes > 0
       order by uri
       on conflict (uri) do update set "likeCount" = excluded."likeCount", "replyCount" = excluded."replyCount",
         "repostCount" = excluded."repostCount", "quoteCount" = excluded."quoteCount"`,
      [did],
    );
    await tx.query(`delete from deleted_subject where did = $1`, [did]);
    await tx.query(
      `insert into profile_agg (did, "followersCount", "followsCount", "postsCount")
       select $1::text, followers, follows, posts from (select
           (select count(*) from follow where "subjectDid" = $1::text) as followers,
           (select count(*) from follow where creator = $1::text) as follows,
           (select count(*) from post where creator = $1::text) as posts) as c
       where followers + follows + posts > 0
       on conflict (did) do update set "followersCount" = excluded."followersCount",
         "followsCount" = excluded."followsCount", "postsCount" = excluded."postsCount"`,
      [did],
    );
    return true;
  });
}
