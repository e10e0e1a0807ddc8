// Every transaction that writes the index runs with JIT compilation off (holdIndexLock, functions/index/account-store.ts):
// with Postgres's default `jit = on`, a statement estimated past `jit_above_cost` is compiled on every execution, and
// the reply-chain walk was, in the bench. Checked on a connection whose own setting is `jit = on` (as a server's
// default is), after every statement of both transactions of network-shaped batches (the batch's own and the
// re-judgement after it), and after every statement outside them too, so the setting stays local to the transaction.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { indexBatch } from '../../../functions/index/handler.ts';
import type { Sql, SqlExecutor } from '../../../functions/ports.ts';
import { createSql, type PostgresSql } from '../../../adapters/postgres/client.ts';
import { networkCorpus } from '../../bench/network-corpus.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';

let db: IndexDb;
let sqlJitOn: PostgresSql;
beforeAll(async () => {
  db = await createIndexDb('jit_off', 'rows');
  const url = new URL(db.url);
  url.searchParams.set('options', `${url.searchParams.get('options') ?? ''} -c jit=on`);
  sqlJitOn = createSql(url.toString(), { max: 2, copy: false });
});
afterAll(async () => {
  await sqlJitOn?.end();
  await db?.close();
});

/** The Sql port, reading `jit` after every statement on the statement's own connection (in its transaction or not). */
function watching(sql: Sql): { sql: Sql; inTransaction: string[]; outside: string[] } {
  const inTransaction: string[] = [];
  const outside: string[] = [];
  const setting = async (ex: SqlExecutor): Promise<string> => {
    const [row] = await ex.query(`select current_setting('jit') as jit`);
    return String(row?.['jit']);
  };
  const inTx = (tx: SqlExecutor): SqlExecutor => ({
    query: async (text, params) => {
      const rows = await tx.query(text, params);
      inTransaction.push(await setting(tx));
      return rows;
    },
  });
  return {
    sql: {
      query: async (text, params) => {
        const rows = await sql.query(text, params);
        outside.push(await setting(sql));
        return rows;
      },
      transaction: (fn) => sql.transaction((tx) => fn(inTx(tx))),
    },
    inTransaction,
    outside,
  };
}

describe('index: JIT', () => {
  it('is off for every statement of the index transactions, and only there', async () => {
    expect(await watching(sqlJitOn).sql.query(`select current_setting('jit') as jit`)).toEqual([{ jit: 'on' }]);
    const corpus = networkCorpus(31);
    const watched = watching(sqlJitOn);
    for (const size of [1500, 500]) {
      const { outcomes } = await indexBatch(corpus.next(size), { ...db.ports, sql: watched.sql });
      expect(outcomes.every((o) => o.status === 'ok')).toBe(true);
    }
    expect(watched.inTransaction.length).toBeGreaterThan(20);
    expect(new Set(watched.inTransaction)).toEqual(new Set(['off']));
    expect(await sqlJitOn.query(`select current_setting('jit') as jit`)).toEqual([{ jit: 'on' }]);
    expect(watched.outside.every((s) => s === 'on')).toBe(true);
  });
});
