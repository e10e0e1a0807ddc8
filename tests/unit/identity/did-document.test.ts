// What parseDidDocument takes from a DID document, against the DID spec, starting from indigo's captured documents
// (tests/fixtures/indigo/atproto/identity/testdata).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseDidDocument } from '../../../functions/atproto/identity/did-document.ts';

const fixture = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(new URL(`../../fixtures/indigo/atproto/identity/testdata/${name}`, import.meta.url), 'utf8')) as Record<string, unknown>;
const base = fixture('did_plc_doc.json');
const DID = base['id'] as string;
const doc = (patch: Record<string, unknown>) => ({ ...structuredClone(base), ...patch });

describe('the claimed handle: the first valid handle in alsoKnownAs', () => {
  it.each([
    [['at://atproto.com/', 'at://alice.example.com'], 'a trailing slash'],
    [['at://bad_handle', 'at://alice.example.com'], 'bad handle syntax'],
    [['at://did:plc:ewvi7nxzyoun6zhxrhs64oiz', 'at://alice.example.com'], 'a DID'],
    [['https://alice.example.com', 'at://', 'at://Alice.Example.COM'], 'another scheme and an empty entry'],
  ])('%j: an entry that is not a handle (%s) is passed over', (alsoKnownAs) => {
    expect(parseDidDocument(DID, doc({ alsoKnownAs })).claimedHandle).toBe('alice.example.com');
  });

  it('the first of two valid handles is the claim; none at all is no claim', () => {
    expect(parseDidDocument(DID, doc({ alsoKnownAs: ['at://first.com', 'at://second.com'] })).claimedHandle).toBe('first.com');
    expect(parseDidDocument(DID, doc({ alsoKnownAs: ['at://bad_handle'] })).claimedHandle).toBeUndefined();
    expect(parseDidDocument(DID, doc({ alsoKnownAs: [] })).claimedHandle).toBeUndefined();
  });
});
