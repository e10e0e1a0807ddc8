// insertTables / deleteFromTables (functions/index/rows.ts): several tables written in ONE statement, a CTE each. The
// post plugin writes its feed item, embeds, OP reply and quote rows this way, and removes them the same way.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteFromTables, insertTables } from '../../../functions/index/rows.ts';
import { checkRows } from '../../../functions/sql-rows.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';

let db: IndexDb;
beforeAll(async () => {
  db = await createIndexDb('multi_table', 'rows');
  await db.sql.query('create table t_a (uri text primary key, n bigint)');
  await db.sql.query('create table t_b (uri text, note text)');
});
afterAll(async () => db?.close());

const A = { uri: 'text', n: 'bigint' } as const;
const B = { uri: 'text', note: 'text' } as const;
const count = async (table: string) => Number(checkRows(await db.sql.query(`select count(*)::int as c from ${table}`), { c: 'number' })[0]?.c);

describe('insertTables and deleteFromTables', () => {
  it('write every table in one statement and return the rows of the write that asks, conflicts left out', async () => {
    await db.sql.query(`insert into t_a values ('at://x/1', 0)`);
    let statements = 0;
    const tx = { query: (text: string, params?: readonly never[]) => (statements++, db.sql.query(text, params)) };
    const back = checkRows(await insertTables(tx, [
      { table: 't_b', columns: B, rows: [{ uri: 'at://x/2', note: 'tab\there' }, { uri: 'at://x/3', note: null }], orderBy: 'uri' },
      { table: 't_a', columns: A, rows: [{ uri: 'at://x/1', n: 5 }, { uri: 'at://x/2', n: 7 }], orderBy: 'uri', onConflict: '(uri) do nothing', returning: ['uri', 'n'] },
      { table: 't_b', columns: B, rows: [], orderBy: 'uri' },
    ]), { uri: 'string', n: 'number' });
    expect(statements).toBe(1);
    expect(back).toEqual([{ uri: 'at://x/2', n: 7 }]);
    expect(await count('t_b')).toBe(2);
    expect(checkRows(await db.sql.query(`select note from t_b order by uri`), { note: 'string?' })).toEqual([{ note: 'tab\there' }, { note: null }]);
  });

  it('deletes by key from every table in one statement, returning what the one that asks deleted', async () => {
    const gone = checkRows(await deleteFromTables(db.sql, [
      { table: 't_a', column: 'uri', returning: ['uri'] },
      { table: 't_b', column: 'uri' },
    ], ['at://x/2', 'at://x/9']), { uri: 'string' });
    expect(gone).toEqual([{ uri: 'at://x/2' }]);
    expect(await count('t_a')).toBe(1);
    expect(await count('t_b')).toBe(1);
  });

  it('sends nothing when there is nothing to write or no key, and refuses two returning writes', async () => {
    let statements = 0;
    const tx = { query: (text: string, params?: readonly never[]) => (statements++, db.sql.query(text, params)) };
    expect(await insertTables(tx, [{ table: 't_a', columns: A, rows: [], orderBy: 'uri' }])).toEqual([]);
    expect(await deleteFromTables(tx, [{ table: 't_a', column: 'uri' }], [])).toEqual([]);
    expect(statements).toBe(0);
    const row = [{ uri: 'at://x/5', n: 1 }];
    await expect(insertTables(tx, [
      { table: 't_a', columns: A, rows: row, orderBy: 'uri', returning: ['uri'] },
      { table: 't_b', columns: B, rows: row, orderBy: 'uri', returning: ['uri'] },
    ])).rejects.toThrow('at most one');
  });
});
