// The official interop syntax vectors (bluesky-social/atproto-interop-tests), every line. Lines are NOT trimmed:
// leading and trailing spaces are part of several invalid cases. Blank lines and `#` lines are comments.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isValidAtUri, isValidDatetime, isValidDid, isValidHandle, isValidNsid, isValidRecordKey, isValidTid } from '../../functions/atproto/syntax/index.ts';
import { unresolvableDid } from '../../functions/atproto/syntax/did.ts';

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

describe('DIDs that must never resolve (interop did_parse_invalid)', () => {
  const bad = cases('did_parse_invalid.txt');

  it('are valid DID syntax, yet each has a reason it cannot resolve', () => {
    expect(bad.length).toBeGreaterThan(10);
    expect(bad.filter((did) => !isValidDid(did))).toEqual([]);
    expect(bad.filter((did) => unresolvableDid(did) === undefined)).toEqual([]);
  });

  it('while did:plc of 24 base32 characters, hostname did:web and localhost with a port may resolve', () => {
    const good = ['did:plc:7iza6de2dwap2sbkpav7c6c6', 'did:plc:ewvi7nxzyoun6zhxrhs64oiz', 'did:web:example.com', 'did:web:sub.example.co.uk', 'did:web:localhost', 'did:web:localhost%3A2583'];
    expect(good.filter((did) => unresolvableDid(did) !== undefined)).toEqual([]);
    // An IP address is no did:web (the method names a hostname), nor is a method atproto does not use.
    expect(['did:web:127.0.0.1', 'did:web:localhost:2583', 'did:web:localhost%3a2583', 'did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme'].filter((did) => unresolvableDid(did) === undefined)).toEqual([]);
  });
});
