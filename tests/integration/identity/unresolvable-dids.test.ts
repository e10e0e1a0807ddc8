// A DID whose syntax is valid but which cannot exist in atproto (interop did_parse_invalid.txt: a did:plc that is not
// 24 base32 characters, a did:web with a path, percent-encoding or a port off localhost) is refused by the resolver
// as the DID's own defect (identity_failed, never an outage), before any request: neither the PLC directory nor the
// host the did:web names is asked. The directory here answers every request with a document, so a request that
// slipped through would resolve.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIdentityResolver } from '../../../adapters/identity/resolver.ts';
import { DependencyError } from '../../../functions/errors.ts';
import type { Fetch } from '../../../functions/ports.ts';

const cases = readFileSync(new URL('../../fixtures/interop/syntax/did_parse_invalid.txt', import.meta.url), 'utf8')
  .split('\n')
  .filter((line) => line.length > 0 && !line.startsWith('#'));

let server: http.Server;
let plcUrl: string;
let requests = 0;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    requests++;
    const did = decodeURIComponent((req.url ?? '/').slice(1));
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
      id: did,
      alsoKnownAs: ['at://someone.test'],
      verificationMethod: [{ id: `${did}#atproto`, type: 'Multikey', controller: did, publicKeyMultibase: 'zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme' }],
      service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: 'https://pds.example.com' }],
    }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  plcUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('DIDs that cannot exist', () => {
  it('are refused as identity_failed, with no request to the directory or to any host', async () => {
    const before = requests;
    let webRequests = 0;
    const webFetch: Fetch = async (input, init) => {
      webRequests++;
      return globalThis.fetch(input, init);
    };
    const resolver = createIdentityResolver({ fetch: globalThis.fetch, plcUrl, webFetch });
    expect(cases.length).toBeGreaterThan(10);
    for (const did of cases) {
      const err = await resolver.resolve(did).catch((e: unknown) => e);
      expect(err, did).toMatchObject({ reason: 'identity_failed' });
      expect(err, did).not.toBeInstanceOf(DependencyError);
    }
    expect(requests - before).toBe(0);
    expect(webRequests).toBe(0);
  });

  it('a did:web under a reserved TLD (.local, .arpa, ...) is refused the same way; .test and .com are asked', async () => {
    const asked: string[] = [];
    const webFetch: Fetch = async (input) => {
      asked.push(String(input));
      return new Response('{}', { status: 404 });
    };
    const resolver = createIdentityResolver({ fetch: globalThis.fetch, plcUrl, webFetch });
    for (const did of ['did:web:printer.local', 'did:web:blah.arpa', 'did:web:svc.internal', 'did:web:foo.localhost', 'did:web:site.invalid', 'did:web:x.onion', 'did:web:a.example', 'did:web:a.alt', 'did:web:Mixed.LOCAL']) {
      const err = await resolver.resolve(did).catch((e: unknown) => e);
      expect(err, did).toMatchObject({ reason: 'identity_failed', message: expect.stringContaining('reserved TLD') });
      expect(err, did).not.toBeInstanceOf(DependencyError);
    }
    expect(asked).toEqual([]);
    // Asked (the 404 is that host's answer): the reserved list is not a blanket refusal of every special name.
    await resolver.resolve('did:web:labeler.test').catch(() => undefined);
    await resolver.resolve('did:web:example.com').catch(() => undefined);
    expect(asked).toEqual(['https://labeler.test/.well-known/did.json', 'https://example.com/.well-known/did.json']);
  });

  it('while a well-formed did:plc is asked of the directory and resolves', async () => {
    const resolver = createIdentityResolver({ fetch: globalThis.fetch, plcUrl });
    const before = requests;
    await expect(resolver.resolve('did:plc:7iza6de2dwap2sbkpav7c6c6')).resolves.toMatchObject({ did: 'did:plc:7iza6de2dwap2sbkpav7c6c6', pds: 'https://pds.example.com' });
    expect(requests - before).toBe(1);
  });
});
