// Statements that run on every batch read the network's biggest tables (billions of rows) only by key: a plan that
// reads a whole table is an outage. Checked here on tables large enough, and analysed, that any plan able to use the
// indexes does:
// - the reply-root re-judgement once selected `uri in (...) or "replyParent" in (...)`, which no index serves;
// - the reply chains a batch completes (post-notifications.ts) were joined back to the post table after the
//   recursion, a third read of it that the planner answered with a hash of the whole table while it was small.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REJUDGE } from '../../../functions/index/reply-roots.ts';
import { CHAIN_CANDIDATES } from '../../../functions/index/post-notifications.ts';
import type { SqlRow, SqlValue } from '../../../functions/ports.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { checkRows } from '../../../functions/sql-rows.ts';

let db: IndexDb;
const ROWS = 50_000;
const uri = (i: number) => `at://did:plc:author${i % 500}/app.bsky.feed.post/p${i}`;

/** Every third post replies to the post before it, in its thread. */
async function fill(target: IndexDb): Promise<void> {
  await target.sql.query(
    `insert into post (uri, cid, creator, text, "replyRoot", "replyParent", "createdAt", "indexedAt")
     select 'at://did:plc:author' || (i % 500) || '/app.bsky.feed.post/p' || i, 'cid', 'did:plc:author' || (i % 500), 'text',
       case when i % 3 = 0 then 'at://did:plc:author' || ((i - 1) % 500) || '/app.bsky.feed.post/p' || (i - 1) end,
       case when i % 3 = 0 then 'at://did:plc:author' || ((i - 1) % 500) || '/app.bsky.feed.post/p' || (i - 1) end,
       '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z'
     from generate_series(1, $1::int) as i`,
    [ROWS],
  );
}

// The same table twice: analysed, and never analysed (a server with autovacuum off, as this machine's CI has it, or a
// table grown far since its last statistics), where the planner takes default selectivities.
let bare: IndexDb;
beforeAll(async () => {
  db = await createIndexDb('reply_roots_plan', 'rows');
  await fill(db);
  await db.sql.query('analyze post');
  bare = await createIndexDb('reply_roots_plan_bare', 'rows');
  await fill(bare);
}, 60_000);
afterAll(async () => {
  await db?.close();
  await bare?.close();
});

/** Every node of an EXPLAIN (FORMAT JSON) plan. */
function nodes(plan: Record<string, unknown>): Record<string, unknown>[] {
  const children = (plan['Plans'] as Record<string, unknown>[] | undefined) ?? [];
  return [plan, ...children.flatMap(nodes)];
}

/** The root plan node of an EXPLAIN (FORMAT JSON). */
function planOf(rows: readonly SqlRow[]): Record<string, unknown> {
  const [row] = checkRows(rows, { 'QUERY PLAN': 'json' });
  return (row!['QUERY PLAN'] as [{ Plan: Record<string, unknown> }])[0].Plan;
}

/** How a statement's plan reads `table`: the node type of each scan of it. */
async function scansOf(text: string, params: readonly SqlValue[], table: string, on: IndexDb = db): Promise<unknown[]> {
  return nodes(planOf(await on.sql.transaction((tx) => tx.query(`explain (format json) ${text}`, params)))).filter((n) => n['Relation Name'] === table).map((n) => n['Node Type']);
}

describe('index: the reply chains a batch completes are read by key', () => {
  it('reads post three times, by uri, by replyParent (below the posts made and removed) and by replyParent (the recursion), and never joins the table back', async () => {
    const fresh = Array.from({ length: 20 }, (_, i) => uri(7 * i + 1));
    const scans = await scansOf(CHAIN_CANDIDATES, [fresh, [uri(2)]], 'post');
    expect(scans).toHaveLength(3);
    expect(scans).not.toContain('Seq Scan');
  });
});

describe('index: the reply-root re-judgement reads posts by key', () => {
  it('uses the indexes on uri and replyParent, never a scan of the post table', async () => {
    const own = Array.from({ length: 40 }, (_, i) => uri(3 * (i + 1)));
    const parents = Array.from({ length: 130 }, (_, i) => uri(3 * i + 2));
    const plan = nodes(planOf(await db.sql.transaction((tx) => tx.query(`explain (format json) ${REJUDGE}`, [own, parents, [], own]))));
    const scans = plan.filter((n) => n['Relation Name'] === 'post').map((n) => n['Node Type']);
    expect(scans.length).toBeGreaterThan(0);
    expect(scans).not.toContain('Seq Scan');
  });

  it('changes the flags it must: a reply whose parent is missing becomes an invalid reply root', async () => {
    const orphan = 'at://did:plc:orphan/app.bsky.feed.post/o1';
    await db.sql.query(
      `insert into post (uri, cid, creator, text, "replyRoot", "replyParent", "createdAt", "indexedAt")
       values ($1, 'cid', 'did:plc:orphan', 'text', 'at://did:plc:gone/app.bsky.feed.post/x', 'at://did:plc:gone/app.bsky.feed.post/x', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')`,
      [orphan],
    );
    const changed = await db.sql.transaction((tx) => tx.query(REJUDGE, [[orphan], [], [], [orphan]]));
    expect(changed).toEqual([{ uri: orphan, changed: true, cyclic: false }]);
    const [flag] = checkRows(await db.sql.query(`select "invalidReplyRoot" from post where uri = $1`, [orphan]), { invalidReplyRoot: 'boolean?' });
    expect(flag?.invalidReplyRoot).toBe(true);
  });
});

describe('index: without planner statistics, the post statements still read by key', () => {
  // Seen before the statements looked keys up one by one: the re-judgement planned three scans of the whole post
  // table and the chain walk a hash of it, on every batch (258 against 53 µs of Postgres per record in the backfill).
  it('the reply-root re-judgement', async () => {
    const own = Array.from({ length: 40 }, (_, i) => uri(3 * (i + 1)));
    const parents = Array.from({ length: 130 }, (_, i) => uri(3 * i + 2));
    const scans = await scansOf(REJUDGE, [own, parents, [], own], 'post', bare);
    expect(scans.length).toBeGreaterThan(0);
    expect(scans).not.toContain('Seq Scan');
  });

  it('the reply chains a batch completes', async () => {
    const fresh = Array.from({ length: 20 }, (_, i) => uri(7 * i + 1));
    const scans = await scansOf(CHAIN_CANDIDATES, [fresh, [uri(2)]], 'post', bare);
    expect(scans).toHaveLength(3);
    expect(scans).not.toContain('Seq Scan');
  });
});
