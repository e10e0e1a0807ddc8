// An outage is not a verdict: a PLC directory that is down, overloaded, unreachable or not itself (a 403 or 401 from
// whatever stands in front of it, an answer that is not JSON), and a Postgres that refuses
// connections, raise DependencyError (waited out by every caller); an answer that settles the question (404, a
// document about another DID, a statement that fails) stays a verdict.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIdentityResolver } from '../../../adapters/identity/resolver.ts';
import { createSql } from '../../../adapters/postgres/client.ts';
import { DependencyError, SkytideError } from '../../../functions/errors.ts';
import { DidHostUnavailableError } from '../../../functions/atproto/identity/did-document.ts';
import { TEST_DATABASE_URL } from '../../helpers/services.ts';
import { plcDid } from '../../helpers/dids.ts';
import { withDnsOutageCheck } from '../../../adapters/xrpc/dns-outage-check.ts';
import type { Fetch } from '../../../functions/ports.ts';

let server: http.Server;
let plc: string;
let hugeClosed: Promise<unknown> | undefined;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const did = decodeURIComponent((req.url ?? '/').slice(1));
    if (did === plcDid('busy')) return void res.writeHead(503).end('busy');
    if (did === plcDid('limited')) return void res.writeHead(429).end('slow down');
    // A directory that is not itself: a proxy's maintenance page, a WAF refusing us, an empty answer.
    if (did === plcDid('maintenance')) return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>down for maintenance</html>');
    if (did === plcDid('blank')) return void res.writeHead(200, { 'content-type': 'application/json' }).end('');
    if (did === plcDid('nocontent')) return void res.writeHead(204).end();
    if (did === plcDid('waf')) return void res.writeHead(403).end('forbidden');
    if (did === plcDid('unauthorized')) return void res.writeHead(401).end();
    if (did === plcDid('tombstoned')) return void res.writeHead(410).end('{"message":"DID not available"}');
    if (did === plcDid('cutoff')) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
      res.write('{"id":');
      return void setTimeout(() => res.socket?.destroy(), 20);
    }
    if (req.url === '/.well-known/did.json') {
      // Declares far more than a document may be, sends a little, and holds the connection open.
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(50 * 1024 * 1024) });
      res.write('{"id":');
      hugeClosed = new Promise((r) => req.socket.once('close', r));
      return;
    }
    res.writeHead(404).end('not found');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  plc = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((r) => server.close(r)));

async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('identity: outage or verdict', () => {
  it.each([plcDid('busy'), plcDid('limited'), plcDid('cutoff'), plcDid('maintenance'), plcDid('blank'), plcDid('nocontent'), plcDid('waf'), plcDid('unauthorized')])('%s from the directory is an outage of the plc dependency', async (did) => {
    const resolver = createIdentityResolver({ fetch: globalThis.fetch, plcUrl: plc });
    const err = await resolver.resolve(did).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DependencyError);
    expect(err).toMatchObject({ reason: 'dependency_unavailable', dependency: 'plc' });
  });

  it('a document declared over the size limit is refused with its connection let go, not held until the deadline', async () => {
    // An hour's deadline: a body left unread would hold the connection past the test.
    const resolver = createIdentityResolver({ fetch: globalThis.fetch, plcUrl: plc, allowPrivate: true, timeoutMs: 3_600_000 });
    const err = await resolver.resolve(`did:web:localhost%3A${new URL(plc).port}`).catch((e: unknown) => e);
    expect(err).toMatchObject({ reason: 'document_too_big' });
    await hugeClosed;
  });

  it('a directory nobody answers at is an outage', async () => {
    const resolver = createIdentityResolver({ fetch: globalThis.fetch, plcUrl: `http://127.0.0.1:${await closedPort()}` });
    await expect(resolver.resolve(plcDid('anyone'))).rejects.toBeInstanceOf(DependencyError);
  });

  it('a did:web host that refuses connections is that DID\'s own problem: neither an outage of ours nor a verdict', async () => {
    // did:web:localhost%3A<port> is fetched over http only where private addresses are allowed (dev networks).
    const resolver = createIdentityResolver({ fetch: globalThis.fetch, plcUrl: plc, allowPrivate: true });
    const err = await resolver.resolve(`did:web:localhost%3A${await closedPort()}`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DidHostUnavailableError);
    expect(err).not.toBeInstanceOf(DependencyError);
    expect(err).toMatchObject({ reason: 'identity_failed' });
  });

  it('a did:web host whose own DNS fails while our resolver answers others is that DID\'s host unavailable, not a verdict', async () => {
    // A lame delegation: SERVFAIL for this name only. dns-outage-check calls it the host's own failure (fetch_failed);
    // the resolver must keep it a host that is unavailable (waited for, its cached identity kept), never a verdict.
    const lame: Fetch = async () => {
      throw new TypeError('fetch failed', { cause: Object.assign(new Error('getaddrinfo EAI_AGAIN lame.skytide-test.net'), { code: 'EAI_AGAIN' }) });
    };
    const resolver = createIdentityResolver({ fetch: globalThis.fetch, plcUrl: plc, webFetch: withDnsOutageCheck(lame, async () => true) });
    const err = await resolver.resolve('did:web:lame.skytide-test.net').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DidHostUnavailableError);
    expect(err).not.toBeInstanceOf(DependencyError);
    // Our resolver down as well: an outage of ours.
    const down = createIdentityResolver({ fetch: globalThis.fetch, plcUrl: plc, webFetch: withDnsOutageCheck(lame, async () => false) });
    await expect(down.resolve('did:web:lame.skytide-test.net')).rejects.toMatchObject({ name: 'DependencyError', dependency: 'dns' });
  });

  it('a DNS failure of the directory\'s own name is an outage of the plc dependency, even while the resolver check answers', async () => {
    // The check's reference name is the directory's own, so a flaky resolver (or a check remembered for 5 s from
    // another host's failure) says "answers" and the DNS check judges the lookup fetch_failed: passed through, that
    // was a verdict on the DID, its cached identity deleted and its repo retried towards the DLQ.
    const flaky: Fetch = async () => {
      throw new TypeError('fetch failed', { cause: Object.assign(new Error('getaddrinfo EAI_AGAIN plc.directory'), { code: 'EAI_AGAIN' }) });
    };
    const resolver = createIdentityResolver({ fetch: withDnsOutageCheck(flaky, async () => true), plcUrl: 'https://plc.directory' });
    await expect(resolver.resolve(plcDid('flakydns'))).rejects.toMatchObject({ name: 'DependencyError', dependency: 'plc' });
    // Our resolver down as well: still an outage, of DNS.
    const down = createIdentityResolver({ fetch: withDnsOutageCheck(flaky, async () => false), plcUrl: 'https://plc.directory' });
    await expect(down.resolve(plcDid('flakydns'))).rejects.toMatchObject({ name: 'DependencyError', dependency: 'dns' });
  });

  it.each([plcDid('nobody'), plcDid('tombstoned')])('404 or 410 from the directory (%s) is a verdict on the DID, not an outage', async (did) => {
    const resolver = createIdentityResolver({ fetch: globalThis.fetch, plcUrl: plc });
    const err = await resolver.resolve(did).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SkytideError);
    expect(err).not.toBeInstanceOf(DependencyError);
    expect(err).toMatchObject({ reason: 'identity_failed' });
  });
});

describe('postgres: outage or verdict', () => {
  it('refused connections are an outage of the postgres dependency, in queries and transactions', async () => {
    const sql = createSql(`postgres://postgres@127.0.0.1:${await closedPort()}/postgres`, { max: 1 });
    try {
      await expect(sql.query('select 1')).rejects.toMatchObject({ name: 'DependencyError', dependency: 'postgres' });
      await expect(sql.transaction((tx) => tx.query('select 1'))).rejects.toMatchObject({ name: 'DependencyError', dependency: 'postgres' });
    } finally {
      await sql.end();
    }
  });

  it('a statement that fails on a healthy server is not an outage', async () => {
    const sql = createSql(TEST_DATABASE_URL, { max: 1 });
    try {
      const err = await sql.query('select * from no_such_table_anywhere').catch((e: unknown) => e);
      expect(err).not.toBeInstanceOf(DependencyError);
      expect(String((err as { code?: unknown }).code)).toBe('42P01');
    } finally {
      await sql.end();
    }
  });
});
