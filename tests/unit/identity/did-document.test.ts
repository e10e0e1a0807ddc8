// What parseDidDocument takes from a DID document, against the DID spec, starting from indigo's captured documents
// (tests/fixtures/indigo/atproto/identity/testdata).
import { readdirSync, readFileSync } from 'node:fs';
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

describe('services: the id and the type the DID spec requires', () => {
  const labelerDoc = (type: string) =>
    doc({ service: [...(base['service'] as unknown[]), { id: '#atproto_labeler', type, serviceEndpoint: 'https://mod.example.com' }] });

  it('an #atproto_pds of another type is no PDS: the document is unusable', () => {
    for (const type of ['SomethingElse', undefined]) {
      const wrong = doc({ service: [{ id: '#atproto_pds', type, serviceEndpoint: 'https://evil.example.com' }] });
      expect(() => parseDidDocument(DID, wrong)).toThrow(expect.objectContaining({ reason: 'identity_failed', message: expect.stringContaining('AtprotoPersonalDataServer') }));
    }
  });

  it('an #atproto_labeler is the labeler only when its type is AtprotoLabeler', () => {
    expect(parseDidDocument(DID, labelerDoc('AtprotoLabeler')).labeler).toBe('https://mod.example.com');
    expect(parseDidDocument(DID, labelerDoc('AtprotoPersonalDataServer')).labeler).toBeUndefined();
  });

  it("indigo's captured documents parse as before", () => {
    for (const name of ['did_plc_doc.json', 'did_plc_doc_legacy.json']) {
      expect(parseDidDocument(DID, fixture(name)), name).toMatchObject({ did: DID, pds: 'https://bsky.social', claimedHandle: 'atproto.com', signingKey: { curve: 'k256' } });
    }
    const testing = new URL('../../fixtures/indigo/testing/testdata/', import.meta.url);
    const repoDocs = readdirSync(testing).filter((f) => f.endsWith('.didDoc.json'));
    expect(repoDocs.length).toBeGreaterThan(2);
    for (const name of repoDocs) {
      const d = JSON.parse(readFileSync(new URL(name, testing), 'utf8')) as Record<string, unknown>;
      expect(parseDidDocument(d['id'] as string, d).pds, name).toMatch(/^https?:\/\//);
    }
    // A feed generator's did:web: no #atproto key and no PDS, so no atproto identity (as before).
    const web = fixture('did_web_doc.json');
    expect(() => parseDidDocument(web['id'] as string, web)).toThrow(expect.objectContaining({ reason: 'identity_failed' }));
  });
});

describe('a list entry that is not an object', () => {
  const atproto = (base['verificationMethod'] as unknown[])[0];
  it.each([
    ['verificationMethod', [atproto, null]],
    ['verificationMethod', [atproto, 'did:key:zQ3sh']],
    ['verificationMethod', [null, atproto]],
    ['service', [...(base['service'] as unknown[]), null]],
    ['service', [[], ...(base['service'] as unknown[])]],
  ])('in %s (%j) makes the document unusable: a verdict (identity_failed), never a TypeError', (field, list) => {
    let thrown: unknown;
    try {
      parseDidDocument(DID, doc({ [field]: list }));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toMatchObject({ name: 'SkytideError', reason: 'identity_failed', message: expect.stringContaining(`an entry of ${field} is not an object`) });
  });
});

describe('the PDS endpoint is read in time linear in its length', () => {
  it('a run of slashes inside the endpoint (a hostile did:web document) does not stall the process', () => {
    // `/\/+$/` tried every start of the run against the end: quadratic, about 10 s of blocked event loop for a 64 KB
    // document, longer than the suite's timeout for this one (the document cap is the fetch's, not the parser's).
    const endpoint = `https://pds.example/${'/'.repeat(250_000)}x`;
    const hostile = doc({ service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: endpoint }] });
    expect(parseDidDocument(DID, hostile).pds).toBe(endpoint);
  });

  it('trailing slashes are still dropped', () => {
    const trailing = doc({ service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: 'https://pds.example///' }] });
    expect(parseDidDocument(DID, trailing).pds).toBe('https://pds.example');
  });
});

describe('a document nested deep where a string belongs', () => {
  it('is a verdict on the document (identity_failed), not a stack overflow', () => {
    // 40 KB, under the document cap: an id that is an array nested 20,000 deep.
    const nested = JSON.parse(`{"id":${'['.repeat(20_000)}${']'.repeat(20_000)}}`) as Record<string, unknown>;
    expect(() => parseDidDocument(DID, nested)).toThrow(expect.objectContaining({ reason: 'identity_failed', message: expect.stringContaining('an id of type array') }));
  });
});

describe('a key longer than any key', () => {
  it('is refused before it is decoded (base58 decoding is quadratic in the length)', () => {
    // A 64 KB did:web document with one 60,000-character key held the event loop about 7 s; this one, 130 s.
    const long = `z${'2'.repeat(250_000)}`;
    const methods = [{ id: `${DID}#atproto`, type: 'Multikey', controller: DID, publicKeyMultibase: long }];
    expect(() => parseDidDocument(DID, doc({ verificationMethod: methods }))).toThrow(expect.objectContaining({ reason: 'identity_failed', message: expect.stringContaining('longer than any key') }));
  });
});
