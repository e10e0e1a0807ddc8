// checkRows: a statement's rows are checked against the columns a caller reads before they are typed.
import { describe, expect, it } from 'vitest';
import { checkFirstRow, checkRows } from '../../../functions/sql-rows.ts';
import { SkytideError } from '../../../functions/errors.ts';

describe('checkRows', () => {
  it('passes rows whose columns hold the kinds named, NULL only where the kind admits it', () => {
    const rows = [
      { uri: 'at://a', n: 3, ok: true, rev: null, sig: new Uint8Array([1]), history: [{ active: true }], extra: 'ignored' },
      { uri: 'at://b', n: 0, ok: false, rev: '3k', sig: null, history: null },
    ];
    const checked = checkRows(rows, { uri: 'string', n: 'number', ok: 'boolean', rev: 'string?', sig: 'bytes?', history: 'json' });
    expect(checked).toEqual(rows);
  });

  it.each([
    ['a NULL where none is allowed', { uri: null }, { uri: 'string' }],
    ['a missing column', {}, { uri: 'string' }],
    ['a number where a string is read', { uri: 1 }, { uri: 'string' }],
    ['a string where a number is read (a bigint the adapter did not parse)', { n: '12' }, { n: 'number' }],
    ['a string where a boolean is read', { ok: 'true' }, { ok: 'boolean?' }],
    ['a string where bytes are read', { sig: 'deadbeef' }, { sig: 'bytes?' }],
    ['a missing json column', {}, { history: 'json' }],
  ] as const)('refuses %s with a handler_error naming the column', (_, row, shape) => {
    let error: unknown;
    try {
      checkRows([{ uri: 'at://ok', n: 1 }, row], shape);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(SkytideError);
    expect((error as SkytideError).reason).toBe('handler_error');
    expect((error as SkytideError).context['column']).toBe(Object.keys(shape)[0]);
  });

  it('checkFirstRow: undefined for no rows, the first row checked otherwise', () => {
    expect(checkFirstRow([], { status: 'string' })).toBeUndefined();
    expect(checkFirstRow([{ status: 'deleted' }, { status: 7 }], { status: 'string' })).toEqual({ status: 'deleted' });
    expect(() => checkFirstRow([{ status: 7 }], { status: 'string' })).toThrow(/column status is not string/);
  });
});
