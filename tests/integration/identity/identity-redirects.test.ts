// A handle's /.well-known/atproto-did and a did:web's /.well-known/did.json may redirect (handle spec: "HTTP
// redirects (eg, 301, 302) are allowed, up to a reasonable number of redirect hops"). They are followed, at most 5
// hops, each https and each through the guarded fetch, so a hop to an internal address is refused before any request
// reaches it; a chain not followed is "could not find out" for a handle (it is kept), never "points nowhere".
// One real web server on 127.0.0.1 plays every host, by its Host header. Hosts the test calls public reach it through
// a guard that allows private addresses (standing in for the public internet: no certificate to trust, so plain
// http); every other host goes through the production guard (allowPrivate false), whose resolver answers 127.0.0.1.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createHandleResolver } from '../../../adapters/identity/handle-resolver.ts';
import { createIdentityResolver } from '../../../adapters/identity/resolver.ts';
import { createGuardedFetch } from '../../../adapters/xrpc/guarded-fetch-node.ts';
import { DidHostUnavailableError } from '../../../functions/atproto/identity/did-document.ts';
import { DependencyError, SkytideError } from '../../../functions/errors.ts';
import type { Fetch } from '../../../functions/ports.ts';

const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';
const KEY = 'zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme';
const PUBLIC = new Set(['moved.test', 'www.moved.test', 'relative.test', 'five.test', 'six.test', 'loop.test', 'toprivate.test', 'toliteral.test', 'downgrade.test', 'webmoved.test', 'docs.webmoved.test', 'webtoprivate.test', 'webloop.test']);
let server: http.Server;
let port = 0;
/** `host path` of every request the server received. */
const seen: string[] = [];

function didDoc(did: string): string {
  return JSON.stringify({
    id: did,
    verificationMethod: [{ id: `${did}#atproto`, type: 'Multikey', controller: did, publicKeyMultibase: KEY }],
    service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: 'https://pds.example.com' }],
  });
}

function answer(host: string, path: string, res: http.ServerResponse): void {
  const redirect = (status: number, location: string) => void res.writeHead(status, { location }).end('moved');
  const hop = /^\/hop\/(\d+)$/.exec(path);
  if (host === 'moved.test') return redirect(301, 'https://www.moved.test/.well-known/atproto-did');
  if (host === 'www.moved.test') return void res.writeHead(200).end(DID);
  if (host === 'relative.test') return path === '/elsewhere' ? void res.writeHead(200).end(DID) : redirect(302, '/elsewhere');
  // five.test answers after exactly 5 redirects, six.test after 6.
  if (host === 'five.test' || host === 'six.test') {
    const n = hop === null ? 0 : Number(hop[1]);
    return n < (host === 'five.test' ? 5 : 6) ? redirect(307, `/hop/${n + 1}`) : void res.writeHead(200).end(DID);
  }
  if (host === 'loop.test' || host === 'webloop.test') return redirect(302, path);
  if (host === 'toprivate.test') return redirect(302, 'https://internal.test/.well-known/atproto-did');
  if (host === 'toliteral.test') return redirect(302, `https://127.0.0.1:${port}/.well-known/atproto-did`);
  if (host === 'downgrade.test') return redirect(301, 'http://www.moved.test/.well-known/atproto-did');
  if (host === 'webmoved.test') return redirect(308, 'https://docs.webmoved.test/did.json');
  if (host === 'docs.webmoved.test') return void res.writeHead(200, { 'content-type': 'application/json' }).end(didDoc('did:web:webmoved.test'));
  if (host === 'webtoprivate.test') return redirect(302, 'https://internal.test/did.json');
  // internal.test and 127.0.0.1 would answer as a handle pointing at DID: reaching them at all is the failure.
  res.writeHead(200).end(DID);
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    seen.push(`${host} ${req.url ?? ''}`);
    answer(host, req.url ?? '/', res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});
beforeEach(() => {
  seen.length = 0;
});

const loopback = async () => [{ address: '127.0.0.1', family: 4 }];
const asPublic = createGuardedFetch({ allowPrivate: true, resolve: loopback });
const production = createGuardedFetch({ allowPrivate: false, resolve: loopback });
const fetch: Fetch = (input, init) => {
  const url = new URL(String(input));
  if (!PUBLIC.has(url.hostname)) return production(input, init);
  return asPublic(`http://${url.hostname}:${port}${url.pathname}${url.search}`, init);
};
const nxdomain = async (): Promise<string[][]> => {
  throw Object.assign(new Error('queryTxt ENOTFOUND'), { code: 'ENOTFOUND' });
};
const handles = createHandleResolver({ fetch, resolveTxt: nxdomain, lookupHost: async () => ({ address: '127.0.0.1' }), timeoutMs: 2000 });

async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then((v) => ({ resolvedTo: v }), (e: unknown) => e);
}

describe('a handle whose well-known redirects', () => {
  it.each(['moved.test', 'relative.test', 'five.test'])('%s: the redirect is followed to the DID', async (handle) => {
    expect(await handles.resolve(handle)).toBe(DID);
  });

  it('each hop is one request, to the host the Location names', async () => {
    await handles.resolve('moved.test');
    expect(seen).toEqual(['moved.test /.well-known/atproto-did', 'www.moved.test /.well-known/atproto-did']);
  });

  it.each([
    ['six.test', 'more than 5 redirects'],
    ['loop.test', 'a redirect loop'],
    ['downgrade.test', 'a redirect to http'],
    ['toprivate.test', 'a redirect to a name that resolves to an internal address'],
    ['toliteral.test', 'a redirect to a literal internal address'],
  ])('%s (%s) is "could not find out": the handle is kept, not cleared', async (handle) => {
    const err = await failure(handles.resolve(handle));
    expect(err).toBeInstanceOf(SkytideError);
    expect(err).not.toBeInstanceOf(DependencyError);
    expect(err).toMatchObject({ reason: 'identity_failed' });
  });

  it('an internal address on the way is never fetched', async () => {
    await failure(handles.resolve('toprivate.test'));
    await failure(handles.resolve('toliteral.test'));
    expect(seen).toEqual(['toprivate.test /.well-known/atproto-did', 'toliteral.test /.well-known/atproto-did']);
  });

  it('the chain stops at 6 requests: the first and 5 redirects', async () => {
    await failure(handles.resolve('loop.test'));
    expect(seen).toHaveLength(6);
  });
});

describe('a did:web whose document redirects', () => {
  const identity = createIdentityResolver({
    fetch: async () => {
      throw new Error('did:web must not use the PLC fetch');
    },
    plcUrl: 'https://plc.example.com',
    webFetch: fetch,
  });

  it('is followed to the document', async () => {
    expect(await identity.resolve('did:web:webmoved.test')).toMatchObject({ did: 'did:web:webmoved.test', pds: 'https://pds.example.com' });
    expect(seen).toEqual(['webmoved.test /.well-known/did.json', 'docs.webmoved.test /did.json']);
  });

  it('to an internal address: refused (forbidden_address) without fetching it', async () => {
    expect(await failure(identity.resolve('did:web:webtoprivate.test'))).toMatchObject({ reason: 'forbidden_address' });
    expect(seen).toEqual(['webtoprivate.test /.well-known/did.json']);
  });

  it('in a loop: a verdict on the DID (identity_failed), not its host being down', async () => {
    const err = await failure(identity.resolve('did:web:webloop.test'));
    expect(err).toMatchObject({ reason: 'identity_failed' });
    expect(err).not.toBeInstanceOf(DidHostUnavailableError);
    expect(err).not.toBeInstanceOf(DependencyError);
  });
});
