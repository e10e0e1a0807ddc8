// The Node guard for URLs from the network, against real sockets on 127.0.0.1 and ::1. A listener on every loopback
// address counts the connections that reach it: an internal address in any form (literal, IPv4-mapped, NAT64, a
// name answering inside, a name that rebinds between lookups) must be refused before any connection is made there.
// With IDENTITY_ALLOW_PRIVATE the same guard serves a local network: streamed bodies, aborts, redirects refused.
import http from 'node:http';
import net from 'node:net';
import type { LookupAddress } from 'node:dns';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createGuardedFetch, type ResolveAll } from '../../../adapters/xrpc/guarded-fetch-node.ts';
import { createIdentityResolver } from '../../../adapters/identity/resolver.ts';
import { DependencyError, SkytideError } from '../../../functions/errors.ts';

// The "internal service": one port, listening on 127.0.0.1 and ::1, counting every connection that reaches it.
let connections = 0;
let port = 0;
const listeners: net.Server[] = [];
// A local "PDS" for the allow-private cases: streamed answers, redirects.
let release: () => void = () => {};
let pds: http.Server;
let pdsUrl = '';

function listen(server: net.Server, host: string, p: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(p, host, () => resolve((server.address() as AddressInfo).port));
  });
}

beforeAll(async () => {
  const counting = () => net.createServer((socket) => {
    connections++;
    socket.destroy();
  });
  const v4 = counting();
  port = await listen(v4, '127.0.0.1', 0);
  listeners.push(v4);
  const v6 = counting();
  await listen(v6, '::1', port).then(() => listeners.push(v6), () => undefined); // ::1 may be absent; v4 still counts
  pds = http.createServer((req, res) => {
    if (req.url === '/redirect') return void res.writeHead(302, { location: `http://127.0.0.1:${port}/` }).end();
    if (req.url === '/stream') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write('first;');
      // The rest comes only when the test has read the first part: the body must stream, not buffer.
      release = () => res.end('second');
      return;
    }
    if (req.url === '/stall') {
      res.writeHead(200);
      res.write('partial');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`hello ${req.headers['host']}`);
  });
  pdsUrl = `http://127.0.0.1:${await listen(pds, '127.0.0.1', 0)}`;
});
afterAll(async () => {
  pds.closeAllConnections();
  await Promise.all([...listeners, pds].map((s) => new Promise((r) => s.close(r))));
});
beforeEach(() => {
  connections = 0;
});

const answers = (...list: string[]): LookupAddress[] => list.map((address) => ({ address, family: net.isIP(address) }));
const neverResolve: ResolveAll = async (name) => {
  throw new Error(`the guard must not resolve ${name}`);
};
const reasonOf = (p: Promise<unknown>) => p.then(() => 'ok', (e: unknown) => (e instanceof SkytideError ? e.reason : `${String(e)}`));

describe('guarded fetch (Node): literal addresses in URLs', () => {
  // Each one names the counting listener's port, so a guard that let it through would be seen connecting.
  const literals = [
    '127.0.0.1', '127.1', '0x7f000001', '2130706433', '0177.0.0.1', '[::1]', '[::ffff:127.0.0.1]', '[::ffff:7f00:1]',
    '[::127.0.0.1]', '[64:ff9b::127.0.0.1]', '[2002:7f00:1::1]', '[fe80::1]', '[fd00::1]', '10.0.0.1', '172.16.0.1',
    '192.168.1.1', '169.254.169.254', '100.64.0.1', '198.18.0.1', '192.0.0.8', '0.0.0.0', '[::]', '[64:ff9b::a9fe:a9fe]',
  ];
  it.each(literals)('refuses https://%s without connecting', async (host) => {
    const fetch = createGuardedFetch({ allowPrivate: false, resolve: neverResolve });
    const err = await fetch(`https://${host}:${port}/xrpc/com.atproto.sync.getRepo`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SkytideError);
    expect(err).toMatchObject({ reason: 'forbidden_address' });
    expect(connections).toBe(0);
  });

  it('refuses http:// from the network, even to a public address', async () => {
    const fetch = createGuardedFetch({ allowPrivate: false, resolve: neverResolve });
    await expect(fetch('http://8.8.8.8/')).rejects.toMatchObject({ reason: 'forbidden_address' });
  });
});

describe('guarded fetch (Node): names', () => {
  it.each([
    ['a loopback answer', ['127.0.0.1']],
    ['an IPv4-mapped loopback answer', ['::ffff:127.0.0.1']],
    ['a NAT64 answer embedding loopback', ['64:ff9b::7f00:1']],
    ['an IPv6 loopback answer', ['::1']],
    ['one internal answer among public ones', ['8.8.8.8', '127.0.0.1']],
    ['a benchmarking answer', ['198.18.3.4']],
  ])('refuses a name with %s, without connecting', async (_what, list) => {
    const fetch = createGuardedFetch({ allowPrivate: false, resolve: async () => answers(...list) });
    const err = await fetch(`https://pds.example:${port}/`).catch((e: unknown) => e);
    expect(err).toMatchObject({ reason: 'forbidden_address' });
    expect((err as Error).message).toContain('resolves to the internal address');
    expect(connections).toBe(0);
  });

  it('connects to the address it checked, even when the name answers private at the next lookup (rebinding)', async () => {
    // First answer public, every later one the internal service. A guard that checks with one lookup and connects
    // with another reaches the internal service; this one hands the socket the answer it judged.
    let lookups = 0;
    const rebinding: ResolveAll = async () => (++lookups === 1 ? answers('1.1.1.1') : answers('127.0.0.1'));
    const fetch = createGuardedFetch({ allowPrivate: false, resolve: rebinding });
    // 1.1.1.1 on this port answers nothing useful (or nothing at all): any outcome but reaching the service will do.
    await fetch(`https://rebind.example:${port}/`, { signal: AbortSignal.timeout(3000) }).catch(() => undefined);
    expect(lookups).toBe(1);
    expect(connections).toBe(0);
    // The next connection asks again and is refused on what it hears.
    await expect(fetch(`https://rebind.example:${port}/`)).rejects.toMatchObject({ reason: 'forbidden_address' });
    expect(lookups).toBe(2);
    expect(connections).toBe(0);
  });

  it('a DNS resolver that is down is an outage; a name that does not exist is a verdict', async () => {
    const failing = (code: string): ResolveAll => async () => {
      throw Object.assign(new Error(`getaddrinfo ${code} pds.example`), { code });
    };
    const outage = await createGuardedFetch({ allowPrivate: false, resolve: failing('EAI_AGAIN') })('https://pds.example/').catch((e: unknown) => e);
    expect(outage).toBeInstanceOf(DependencyError);
    expect(outage).toMatchObject({ reason: 'dependency_unavailable', dependency: 'dns' });
    // Rejected as Web fetch rejects, so each caller judges it in its own terms (getRepo: fetch_failed).
    const missing = await createGuardedFetch({ allowPrivate: false, resolve: failing('ENOTFOUND') })('https://pds.example/').catch((e: unknown) => e);
    expect(missing).not.toBeInstanceOf(SkytideError);
    expect(missing).toBeInstanceOf(TypeError);
    expect((missing as Error).cause).toMatchObject({ code: 'ENOTFOUND' });
  });

  it('did:web documents go through the guard: an internal did:web host is refused', async () => {
    const identity = createIdentityResolver({
      fetch: async () => {
        throw new Error('did:web must not use the PLC fetch');
      },
      plcUrl: 'https://plc.example',
      webFetch: createGuardedFetch({ allowPrivate: false, resolve: async () => answers('::ffff:10.0.0.7') }),
    });
    await expect(identity.resolve('did:web:internal.example.com')).rejects.toMatchObject({ reason: 'forbidden_address' });
    const withDns = (code: string) =>
      createIdentityResolver({
        fetch: globalThis.fetch,
        plcUrl: 'https://plc.example',
        webFetch: createGuardedFetch({ allowPrivate: false, resolve: async () => { throw Object.assign(new Error(code), { code }); } }),
      });
    // A did:web host that does not exist is that DID's problem; a resolver that is down is everyone's.
    await expect(withDns('ENOTFOUND').resolve('did:web:gone.example.com')).rejects.toMatchObject({ reason: 'identity_failed' });
    await expect(withDns('EAI_AGAIN').resolve('did:web:gone.example.com')).rejects.toMatchObject({ reason: 'dependency_unavailable', dependency: 'dns' });
    // The runtime's own guard when none is given: localhost is loopback, refused on the address connected to.
    await expect(createIdentityResolver({ fetch: globalThis.fetch, plcUrl: 'https://plc.example' }).resolve('did:web:localhost')).rejects.toMatchObject({ reason: 'forbidden_address' });
  });
});

describe('guarded fetch (Node) on a private network (IDENTITY_ALLOW_PRIVATE)', () => {
  it('reaches loopback by literal and by name, with the name resolved by the lookup it was given', async () => {
    const fetch = createGuardedFetch({ allowPrivate: true, resolve: async () => answers('127.0.0.1') });
    expect(await (await fetch(`${pdsUrl}/`)).text()).toBe(`hello ${pdsUrl.slice('http://'.length)}`);
    const byName = `http://pds.local:${new URL(pdsUrl).port}`;
    expect(await (await fetch(`${byName}/`)).text()).toBe(`hello pds.local:${new URL(pdsUrl).port}`);
  });

  it('streams the body as it arrives', async () => {
    const fetch = createGuardedFetch({ allowPrivate: true });
    const res = await fetch(`${pdsUrl}/stream`);
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe('first;');
    release();
    let rest = '';
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += new TextDecoder().decode(r.value);
    expect(rest).toBe('second');
  });

  it('ends the body when the caller aborts', async () => {
    const fetch = createGuardedFetch({ allowPrivate: true });
    const controller = new AbortController();
    const res = await fetch(`${pdsUrl}/stall`, { signal: controller.signal });
    const reader = res.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('partial');
    controller.abort();
    await expect(reader.read()).rejects.toBeDefined();
  });

  it('rejects with the caller\'s abort reason when aborted before the answer', async () => {
    const fetch = createGuardedFetch({ allowPrivate: true, resolve: () => new Promise(() => {}) });
    const err = await fetch('http://never.local/', { signal: AbortSignal.timeout(50) }).catch((e: unknown) => e);
    expect((err as Error).name).toBe('TimeoutError');
  });

  it('ends a connection that goes silent', async () => {
    const fetch = createGuardedFetch({ allowPrivate: true, idleTimeoutMs: 200 });
    const res = await fetch(`${pdsUrl}/stall`);
    await expect(res.text()).rejects.toBeDefined();
  });

  it('refuses a redirect, even on a private network', async () => {
    const fetch = createGuardedFetch({ allowPrivate: true });
    expect(await reasonOf(fetch(`${pdsUrl}/redirect`))).toBe('forbidden_address');
    expect(await reasonOf(fetch(`${pdsUrl}/redirect`, { redirect: 'follow' }))).toBe('forbidden_address');
    expect(connections).toBe(0);
  });

  it("hands a redirect back unfollowed when the caller asked 'manual' (identity fetches judge each hop themselves)", async () => {
    const fetch = createGuardedFetch({ allowPrivate: true });
    const res = await fetch(`${pdsUrl}/redirect`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe(`http://127.0.0.1:${port}/`);
    await res.body?.cancel();
    expect(connections).toBe(0);
  });
});
