// The official interop syntax vectors (bluesky-social/atproto-interop-tests), every line. Lines are NOT trimmed:
// leading and trailing spaces are part of several invalid cases. Blank lines and `#` lines are comments.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isValidAtUri, isValidDatetime, isValidDid, isValidHandle, isValidNsid, isValidRecordKey, isValidTid } from '../../functions/atproto/syntax/index.ts';

const DIR = new URL('../fixtures/interop/syntax/', import.meta.url);

function cases(file: string): string[] {
  return readFileSync(new URL(file, DIR), 'utf8')
    .split('\n')
    .filter((line) => line.length > 0 && !line.startsWith('#'));
}

const VALIDATORS: [string, (v: string) => boolean][] = [
  ['did', isValidDid],
  ['handle', isValidHandle],
  ['nsid', isValidNsid],
  ['recordkey', isValidRecordKey],
  ['tid', isValidTid],
  ['datetime', isValidDatetime],
  ['aturi', isValidAtUri],
];

describe.each(VALIDATORS)('%s syntax (interop vectors)', (name, validate) => {
  const valid = cases(`${name}_syntax_valid.txt`);
  const invalid = cases(`${name}_syntax_invalid.txt`);

  it(`accepts all ${valid.length} valid cases`, () => {
    expect(valid.length).toBeGreaterThan(3);
    expect(valid.filter((v) => !validate(v))).toEqual([]);
  });

  it(`rejects all ${invalid.length} invalid cases`, () => {
    expect(invalid.length).toBeGreaterThan(3);
    expect(invalid.filter((v) => validate(v))).toEqual([]);
  });
});

describe('datetime semantics (interop datetime_parse_invalid)', () => {
  it('rejects syntactically fine values that are not real instants', () => {
    const bad = cases('datetime_parse_invalid.txt');
    expect(bad.length).toBeGreaterThan(3);
    expect(bad.filter((v) => isValidDatetime(v))).toEqual([]);
  });
});
