// The index writes a batch with a number of statements that does not grow with the batch: one per table or step, never
// one per record (issue 11). Counted on network-shaped batches (tests/bench/network-corpus.ts) through the Sql port,
// both transactions of a batch (the batch's own and the re-judgement after it) included: a change that adds a
// statement per record, or a step per table where one statement served, fails here rather than only in the bench.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { indexBatch } from '../../../functions/index/handler.ts';
import type { Sql, SqlExecutor } from '../../../functions/ports.ts';
import { REJUDGE } from '../../../functions/index/reply-roots.ts';
import { networkCorpus } from '../../bench/network-corpus.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';

let db: IndexDb;
beforeAll(async () => {
  db = await createIndexDb('statement_count', 'rows');
});
afterAll(async () => db?.close());

/** Counts statements, the reply-root re-judgement's rounds apart: it takes a round per level a change travels down a
 * thread (reply-roots.ts), so their number follows the threads' depth, not the batch's size. */
function counting(sql: Sql): { sql: Sql; count: () => number; rounds: () => number } {
  let n = 0;
  let r = 0;
  const wrap = (ex: SqlExecutor): SqlExecutor => ({ query: (text, params) => (text === REJUDGE ? r++ : n++, ex.query(text, params)) });
  return { sql: { ...wrap(sql), transaction: (fn) => sql.transaction((tx) => fn(wrap(tx))) }, count: () => n, rounds: () => r };
}

describe('index: statements per batch', () => {
  it('stay a few dozen whether a network-shaped batch holds 500 events or 2,000', async () => {
    const corpus = networkCorpus(23);
    await indexBatch(corpus.next(3000), db.ports); // earlier records for this traffic to like, reply to and delete
    const counts: number[] = [];
    for (const size of [500, 2000, 500, 2000]) {
      const { sql, count, rounds } = counting(db.sql);
      const { outcomes } = await indexBatch(corpus.next(size), { ...db.ports, sql });
      expect(outcomes.every((o) => o.status === 'ok')).toBe(true);
      counts.push(count());
      // A round or more in each of the batch's two transactions, one more per level a change travels.
      expect(rounds()).toBeGreaterThanOrEqual(2);
      expect(rounds()).toBeLessThanOrEqual(10);
    }
    // Measured without the rounds: 27 to 33 (posts, replies, quotes, deletes, follows and profiles in every batch), and
    // 3 to 6 rounds. With the rounds, once 32 to 44 when the post plugin wrote each of its tables in a statement of its own.
    for (const c of counts) expect(c).toBeLessThanOrEqual(36);
    expect(Math.max(counts[1]!, counts[3]!)).toBeLessThanOrEqual(Math.min(counts[0]!, counts[2]!) + 8);
  });
});
