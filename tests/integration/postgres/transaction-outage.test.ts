// A Postgres that stops under a transaction in flight is an outage the process lives through: the transaction
// rejects with a DependencyError, nothing escapes as an uncaught exception (postgres.js's own begin() would write a
// ROLLBACK on the dead connection and throw from a setImmediate: porsager/postgres#1154, #1208), and once the server
// is back the same client, with a single connection, runs queries and transactions again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSql, type PostgresSql } from '../../../adapters/postgres/client.ts';
import { DependencyError } from '../../../functions/errors.ts';
import { startPrivatePostgres, type PrivatePostgres } from '../../helpers/private-services.ts';

let pg: PrivatePostgres;
let sql: PostgresSql;
const uncaught: unknown[] = [];
const record = (err: unknown) => void uncaught.push(err);

beforeAll(async () => {
  pg = await startPrivatePostgres();
  // One connection: if the lost one were never handed back to service, nothing after the outage could run.
  sql = createSql(pg.url, { max: 1 });
  process.on('uncaughtException', record);
}, 60_000);
afterAll(async () => {
  process.off('uncaughtException', record);
  await sql?.end();
  await pg?.close();
}, 60_000);

describe('a transaction under a Postgres that stops', () => {
  it('rejects as an outage, throws nothing uncaught, and the client recovers', { timeout: 120_000 }, async () => {
    await sql.query(`create table t (n int)`);
    const inFlight = sql.transaction(async (tx) => {
      await tx.query(`insert into t values (1)`);
      await tx.query(`select pg_sleep(10)`);
      return 'committed';
    }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 300));
    await pg.stop('fast');
    const err = await inFlight;
    expect(err).toBeInstanceOf(DependencyError);
    expect(err).toMatchObject({ dependency: 'postgres' });
    // Anything postgres.js scheduled on the dead connection has run by now.
    await new Promise((r) => setTimeout(r, 200));
    expect(uncaught).toEqual([]);

    await pg.start();
    const retried = async <T>(f: () => Promise<T>): Promise<T> => {
      for (let i = 0; ; i++) {
        try {
          return await f();
        } catch (e) {
          if (!(e instanceof DependencyError) || i > 200) throw e;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    };
    expect(await retried(() => sql.transaction(async (tx) => (await tx.query(`insert into t values (2)`), 'ok')))).toBe('ok');
    // The in-flight transaction was rolled back by the server; the one after the outage committed.
    expect(await sql.query(`select n from t order by n`)).toEqual([{ n: 2 }]);
    // A statement that fails on a live connection is rolled back and its connection handed back.
    await expect(sql.transaction(async (tx) => tx.query(`select * from no_such_table`))).rejects.toMatchObject({ code: '42P01' });
    expect(await sql.query(`select 1 as one`)).toEqual([{ one: 1 }]);
    expect(uncaught).toEqual([]);
  });
});
