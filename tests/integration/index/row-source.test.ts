// rowSource (functions/index/rows.ts): a batch's rows travel to Postgres as one text parameter split by string_to_array,
// or as JSON when a value holds one of its separators. Every value must arrive exactly, whichever way it travelled.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowSource, type Columns, type Row } from '../../../functions/index/rows.ts';
import type { SqlValue } from '../../../functions/ports.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';

let db: IndexDb;
beforeAll(async () => {
  db = await createIndexDb('row_source', 'rows');
});
afterAll(async () => db?.close());

const COLUMNS: Columns = { n: 'bigint', text: 'text', flag: 'boolean', tags: 'jsonb' };

async function roundTrip(columns: Columns, rows: readonly Row[]): Promise<{ from: string; rows: Record<string, unknown>[] }> {
  const params: SqlValue[] = [];
  const from = rowSource(columns, rows, params);
  const out = await db.sql.query(`select * from ${from}`, params);
  return { from, rows: out };
}

const awkward = [
  'plain', '', 'tab\there', 'line\nbreak\r\n', 'back\\slash \\N \\x1e', `"quotes" and 'apostrophes'`, 'emoji 🦋 and ünïcode',
  '{"looks":"like json"}', 'NULL', ',;|', ' leading and trailing ',
];

describe('rowSource', () => {
  it('carries every value exactly as text: tabs, newlines, backslashes, quotes, empty strings, nulls, JSON, numbers, booleans', async () => {
    const rows: Row[] = awkward.map((text, i) => ({ n: i, text, flag: i % 2 === 0, tags: i % 3 === 0 ? null : ['a', text] }));
    rows.push({ n: 100, text: null, flag: null, tags: { nested: { x: 1 } } });
    const { from, rows: out } = await roundTrip(COLUMNS, rows);
    expect(from).toContain('string_to_table');
    expect(out.map((r) => ({ ...r, n: Number(r['n']) }))).toEqual(rows.map((r) => ({ ...r, tags: r['tags'] ?? null })));
  });

  it('sends a set with a separator in a value as JSON, and its values still arrive exactly', async () => {
    const rows: Row[] = ['\x1e', 'a\x1fb', '\x1d', 'fine'].map((text, i) => ({ n: i, text, flag: true, tags: [text] }));
    const { from, rows: out } = await roundTrip(COLUMNS, rows);
    expect(from).toContain('json_to_recordset');
    expect(out.map((r) => ({ ...r, n: Number(r['n']) }))).toEqual(rows);
  });

  it('keeps an empty value of a one-column set (an empty line would be no row at all)', async () => {
    const { from, rows: out } = await roundTrip({ text: 'text' }, [{ text: 'a' }, { text: '' }, { text: null }]);
    expect(from).toContain('json_to_recordset');
    expect(out).toEqual([{ text: 'a' }, { text: '' }, { text: null }]);
  });

  it('yields no rows for an empty set', async () => {
    expect((await roundTrip(COLUMNS, [])).rows).toEqual([]);
  });

  it('cleans what Postgres cannot store (NUL, lone surrogates), as COPY does, whichever way the set travels', async () => {
    const { rows: out } = await roundTrip({ text: 'text', n: 'bigint' }, [{ text: 'a\u0000b\ud800c', n: 1 }]);
    expect(out[0]?.['text']).toBe('ab\ufffdc');
    // The separator sends this set as JSON; its strings are cleaned all the same, nested ones included.
    const json = await roundTrip({ text: 'text', tags: 'jsonb' }, [{ text: 'a\u0000b\x1e', tags: ['x\ud800'] }]);
    expect(json.from).toContain('json_to_recordset');
    expect(json.rows).toEqual([{ text: 'ab\x1e', tags: ['x\ufffd'] }]);
  });

  it('cleans each value as on its own, though a set is checked and cleaned as one text', async () => {
    // A high surrogate ending one value and a low one starting the next stay two lone halves (a separator stands
    // between them); NUL removed inside one value joins its halves into a pair, as cleanText on that value does.
    const rows: Row[] = [
      { a: 'x\ud800', b: '\udc00y', c: null },
      { a: '\ud83e\u0000\udd8b', b: null, c: 'plain' },
    ];
    const { from, rows: out } = await roundTrip({ a: 'text', b: 'text', c: 'text' }, rows);
    expect(from).toContain('string_to_table');
    expect(out).toEqual([
      { a: 'x\ufffd', b: '\ufffdy', c: null },
      { a: '\ud83e\udd8b', b: null, c: 'plain' },
    ]);
  });

  it('sends a set as JSON when a value holds a separator, even when the set holds no null', async () => {
    // The text is checked by counting its separators: one inside a value makes one more than were put there.
    const rows: Row[] = [{ a: 'p\x1dq', b: 'r' }, { a: 's', b: 't' }];
    const { from, rows: out } = await roundTrip({ a: 'text', b: 'text' }, rows);
    expect(from).toContain('json_to_recordset');
    expect(out).toEqual(rows);
  });
});
