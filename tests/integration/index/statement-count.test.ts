// The index writes a batch with a number of statements that does not grow with the batch: one per table or step, never
// one per record (issue 11). Counted on network-shaped batches (tests/bench/network-corpus.ts) through the Sql port,
// both transactions of a batch (the batch's own and the re-judgement after it) included: a change that adds a
// statement per record, or a step per table where one statement served, fails here rather than only in the bench.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { indexBatch } from '../../../functions/index/handler.ts';
import type { Sql, SqlExecutor } from '../../../functions/ports.ts';
import { networkCorpus } from '../../bench/network-corpus.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';

let db: IndexDb;
beforeAll(async () => {
  db = await createIndexDb('statement_count', 'rows');
});
afterAll(async () => db?.close());

function counting(sql: Sql): { sql: Sql; count: () => number } {
  let n = 0;
  const wrap = (ex: SqlExecutor): SqlExecutor => ({ query: (text, params) => (n++, ex.query(text, params)) });
  return { sql: { ...wrap(sql), transaction: (fn) => sql.transaction((tx) => fn(wrap(tx))) }, count: () => n };
}

describe('index: statements per batch', () => {
  it('stay a few dozen whether a network-shaped batch holds 500 events or 2,000', async () => {
    const corpus = networkCorpus(23);
    await indexBatch(corpus.next(3000), db.ports); // earlier records for this traffic to like, reply to and delete
    const counts: number[] = [];
    for (const size of [500, 2000, 500, 2000]) {
      const { sql, count } = counting(db.sql);
      const { outcomes } = await indexBatch(corpus.next(size), { ...db.ports, sql });
      expect(outcomes.every((o) => o.status === 'ok')).toBe(true);
      counts.push(count());
    }
    // Measured: 26 to 31 (posts, replies, quotes, deletes, follows and profiles in every batch); 32 to 44 when the post
    // plugin wrote each of its tables in a statement of its own.
    for (const c of counts) expect(c).toBeLessThanOrEqual(40);
    expect(Math.max(counts[1]!, counts[3]!)).toBeLessThanOrEqual(Math.min(counts[0]!, counts[2]!) + 8);
  });
});
