// Reads of gate_version by post must cost the same however many gates the network holds. The table grows with every
// thread gate and post gate ever indexed, and the post plugin reads it on every batch that writes a post (the gates
// of the batch's roots, quoted posts and new posts): read by "postUri" alone, which its only index (the primary key,
// kind first) cannot serve before Postgres 18, it was a scan of the whole table per batch. Measured by what a read
// visits (EXPLAIN's shared buffers), deterministic, at N and 10N unrelated versions: a probe of the index stays flat;
// the scan grew tenfold (164 -> 1,636 buffers at 10,000 -> 100,000 versions). An account deletion's purge likewise
// read gate_version and op_thread_reply whole for the DID in their URIs (migration 0017 indexes it).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATE_VERSIONS_OF } from '../../../functions/index/gates.ts';
import { PURGE_GATE_VERSIONS, PURGE_OP_REPLIES } from '../../../functions/index/account-deletion.ts';
import type { SqlValue } from '../../../functions/ports.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { checkRows } from '../../../functions/sql-rows.ts';

const N = 10_000;
const post = (i: number) => `at://did:plc:author${i % 2000}/app.bsky.feed.post/p${i}`;

let db: IndexDb;
beforeAll(async () => {
  db = await createIndexDb('gate_plans', 'rows');
}, 60_000);
afterAll(async () => db?.close());

/** Gate versions, both kinds alternating, of posts `from` to `to` (one each). */
async function fill(from: number, to: number): Promise<void> {
  await db.sql.query(
    `insert into gate_version (kind, "postUri", cid, "createdAt", json)
     select case when i % 2 = 0 then 'thread' else 'post' end,
       'at://did:plc:author' || (i % 2000) || '/app.bsky.feed.post/p' || i, 'cid' || i, '2026-01-01T00:00:00.000Z', '{"allow":[]}'
     from generate_series($1::int, $2::int) as i`,
    [from, to],
  );
  await db.sql.query(
    `insert into op_thread_reply ("rootUri", "parentUri", uri)
     select 'at://did:plc:author' || (i % 2000) || '/app.bsky.feed.post/r' || i, 'at://did:plc:author' || (i % 2000) || '/app.bsky.feed.post/r' || i,
       'at://did:plc:author' || (i % 2000) || '/app.bsky.feed.post/p' || i
     from generate_series($1::int, $2::int) as i`,
    [from, to],
  );
}

/** The shared buffers a statement visits, from EXPLAIN (ANALYZE, BUFFERS); a write is rolled back after. */
async function buffersOf(text: string, params: readonly SqlValue[]): Promise<number> {
  const rolledBack = new Error('rolled back');
  let buffers = -1;
  await db.sql.transaction(async (tx) => {
    const [row] = checkRows(await tx.query(`explain (analyze, buffers, format json) ${text}`, params), { 'QUERY PLAN': 'json' });
    const plan = (row!['QUERY PLAN'] as [{ Plan: Record<string, number> }])[0].Plan;
    buffers = (plan['Shared Hit Blocks'] ?? 0) + (plan['Shared Read Blocks'] ?? 0);
    throw rolledBack;
  }).catch((err: unknown) => {
    if (err !== rolledBack) throw err;
  });
  return buffers;
}

describe('index: gate versions are read by key, whatever the size of gate_version', () => {
  it('the gate versions of a batch\'s posts: as many buffers at 10N versions as at N, analysed or not', async () => {
    await fill(1, N);
    const asked = [[post(17), post(4242), 'at://did:plc:nobody/app.bsky.feed.post/none']];
    const small = await buffersOf(GATE_VERSIONS_OF, asked);
    const rows = checkRows(await db.sql.query(GATE_VERSIONS_OF, asked), { postUri: 'string' });
    expect(rows.map((r) => r.postUri).sort()).toEqual([post(17), post(4242)].sort());
    await fill(N + 1, 10 * N);
    const large = await buffersOf(GATE_VERSIONS_OF, asked);
    await db.sql.query('analyze gate_version');
    const analysed = await buffersOf(GATE_VERSIONS_OF, asked);
    console.log(`gate_version read: ${small} buffers at ${N} versions, ${large} at ${10 * N}, ${analysed} analysed`);
    // Measured: 20 to 23 buffers at either size (six probes of the primary key); the scan read 164 and 1,636.
    expect(small).toBeLessThanOrEqual(40);
    expect(large).toBeLessThanOrEqual(small + 8);
    expect(analysed).toBeLessThanOrEqual(small + 8);
  }, 60_000);
});

describe('index: a deleted account\'s gate versions and OP thread replies are found by its DID, not by a scan', () => {
  it('reads the account\'s own rows, whatever the other accounts hold', async () => {
    // The table holds 10N rows of 2,000 accounts from the test above: one more account's, and one of nobody's.
    const gone = 'did:plc:purged';
    await db.sql.query(
      `insert into gate_version (kind, "postUri", cid, "createdAt", json) values ('thread', $1, 'c', '2026-01-01T00:00:00.000Z', null)`,
      [`at://${gone}/app.bsky.feed.post/x`],
    );
    const deleted = checkRows(await db.sql.transaction((tx) => tx.query(PURGE_GATE_VERSIONS, [gone])), { postUri: 'string' });
    expect(deleted.map((r) => r.postUri)).toEqual([`at://${gone}/app.bsky.feed.post/x`]);
    const buffers = {
      gates: await buffersOf(PURGE_GATE_VERSIONS, ['did:plc:author7']),
      nobodysGates: await buffersOf(PURGE_GATE_VERSIONS, ['did:plc:nobody']),
      replies: await buffersOf(PURGE_OP_REPLIES, ['did:plc:author7']),
      nobodysReplies: await buffersOf(PURGE_OP_REPLIES, ['did:plc:nobody']),
    };
    console.log(`purge at ${10 * N} rows of 2,000 accounts: ${JSON.stringify(buffers)} buffers`);
    // Measured: 152 and 102 for an account's 50 rows of each, 2 for none (the scans: 1,740 and 2,264, 1,640 and 2,214).
    expect(buffers.nobodysGates).toBeLessThanOrEqual(10);
    expect(buffers.nobodysReplies).toBeLessThanOrEqual(10);
    expect(buffers.gates).toBeLessThanOrEqual(400);
    expect(buffers.replies).toBeLessThanOrEqual(400);
  }, 60_000);
});
