// Outage or verdict, for failures talking to hosts from the network. The errors are real: Node's resolver (c-ares)
// against a DNS server of the test's own (an answer, NXDOMAIN, SERVFAIL, silence) or against a port where no resolver
// listens, and fetch against closed ports, servers that hang and servers that drop the connection. Only getaddrinfo's
// EAI_AGAIN cannot be made on demand here; it is built with the fields Node gives it.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Resolver } from 'node:dns/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyNetworkFailure } from '../../../functions/network-failure.ts';
import { DependencyError, SkytideError } from '../../../functions/errors.ts';
import { judgeFetchFailure, RepoFetchError } from '../../../functions/backfill-repo/fetch-car.ts';
import { createResolverCheck, withDnsOutageCheck } from '../../../adapters/xrpc/dns-outage-check.ts';
import type { Fetch } from '../../../functions/ports.ts';
import { startDnsServer, type DnsServer } from '../../helpers/dns-server.ts';

let dns: DnsServer;
let server: http.Server;
let base: string;

const ANSWERS: Record<string, 'servfail' | 'silent' | { a: string }> = {
  'plc.example': { a: '127.0.0.1' },
  'lame.example': 'servfail',
  'slow.example': 'silent',
};

beforeAll(async () => {
  dns = await startDnsServer((name) => ANSWERS[name] ?? 'nxdomain');
  server = http.createServer((req, res) => {
    if (req.url === '/hang') return; // never answers
    res.writeHead(200, { 'content-length': '100000' });
    res.write('partial');
    setTimeout(() => res.socket?.destroy(), 20);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await Promise.all([dns.close(), new Promise((r) => server.close(r))]);
});

function resolver(address = dns.address): Resolver {
  const r = new Resolver({ timeout: 300, tries: 1 });
  r.setServers([address]);
  return r;
}

async function failureOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(() => {
    throw new Error('expected a failure');
  }, (err: unknown) => err);
}

async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** A Fetch port that resolves the host through `r` first, as a fetch with a pinned lookup would. */
function fetchVia(r: Resolver): Fetch {
  return async (input, init) => {
    const url = new URL(String(input));
    try {
      await r.resolve4(url.hostname);
    } catch (err) {
      throw new TypeError('fetch failed', { cause: err });
    }
    return globalThis.fetch(`${base}${url.pathname}`, init);
  };
}

describe('classifyNetworkFailure', () => {
  it('tells a resolver that fails from a name that does not exist', async () => {
    expect(classifyNetworkFailure(await failureOf(resolver().resolve4('nope.example')))).toEqual({ kind: 'no_such_host', code: 'ENOTFOUND' });
    expect(classifyNetworkFailure(await failureOf(resolver().resolve4('lame.example')))).toEqual({ kind: 'dns_outage', code: 'ESERVFAIL' });
    expect(classifyNetworkFailure(await failureOf(resolver().resolve4('slow.example')))).toEqual({ kind: 'dns_outage', code: 'ETIMEOUT' });
    // No resolver listening: c-ares says ECONNREFUSED, which on a DNS syscall is the resolver's failure, not a host's.
    const down = await failureOf(resolver(`127.0.0.1:${await closedPort()}`).resolve4('plc.example'));
    expect(down).toMatchObject({ code: 'ECONNREFUSED', syscall: 'queryA' });
    expect(classifyNetworkFailure(down)).toEqual({ kind: 'dns_outage', code: 'ECONNREFUSED' });
    const eaiAgain = Object.assign(new Error('getaddrinfo EAI_AGAIN pds.example'), { errno: -3001, code: 'EAI_AGAIN', syscall: 'getaddrinfo', hostname: 'pds.example' });
    expect(classifyNetworkFailure(new TypeError('fetch failed', { cause: eaiAgain }))).toEqual({ kind: 'dns_outage', code: 'EAI_AGAIN' });
    // EAI_FAIL is usually one domain's broken servers: an answer about that name, or waiting it out would stall others.
    const eaiFail = Object.assign(new Error('getaddrinfo EAI_FAIL pds.example'), { code: 'EAI_FAIL', syscall: 'getaddrinfo' });
    expect(classifyNetworkFailure(eaiFail)).toEqual({ kind: 'no_such_host', code: 'EAI_FAIL' });
  });

  it('reads real fetch failures: a refused connect, a deadline, a body cut off', async () => {
    const refused = await failureOf(fetch(`http://127.0.0.1:${await closedPort()}/`));
    expect(classifyNetworkFailure(refused)).toEqual({ kind: 'unreachable', code: 'ECONNREFUSED' });
    expect(classifyNetworkFailure(await failureOf(fetch(`${base}/hang`, { signal: AbortSignal.timeout(100) })))).toEqual({ kind: 'timeout' });
    const res = await fetch(`${base}/cut`);
    expect(classifyNetworkFailure(await failureOf(res.text()))).toEqual({ kind: 'unreachable', code: 'UND_ERR_SOCKET' });
    expect(classifyNetworkFailure(new RangeError('a bug'))).toEqual({ kind: 'unknown' });
  });

  it("reads workerd's failures, a bare Error known by its message (what its fetch threw at a closed port, tests/e2e/worker-sweep-outage.test.ts)", () => {
    const lost = Object.assign(new Error('Network connection lost.'), { remote: true, retryable: true });
    expect(classifyNetworkFailure(lost)).toEqual({ kind: 'unreachable', code: 'Network connection lost.' });
    expect(classifyNetworkFailure(new Error('connection attempt failed'))).toEqual({ kind: 'unreachable', code: 'connection attempt failed' });
    // The same words on another class, or with a code, are not workerd's.
    expect(classifyNetworkFailure(new TypeError('Network connection lost.'))).toEqual({ kind: 'unknown' });
    expect(classifyNetworkFailure(Object.assign(new Error('Network connection lost.'), { code: 'X' }))).toEqual({ kind: 'unknown' });
  });
});

describe('judging a failed getRepo', () => {
  it('a resolver outage is ours (DependencyError dns); no such host, refusals and deadlines are the PDS failing', async () => {
    const did = 'did:plc:judged';
    expect(judgeFetchFailure(await failureOf(fetchVia(resolver())('https://lame.example/x')), did, 'https://lame.example')).toMatchObject({ name: 'DependencyError', dependency: 'dns' });
    const nx = judgeFetchFailure(await failureOf(fetchVia(resolver())('https://nope.example/x')), did, 'https://nope.example');
    expect(nx).toBeInstanceOf(RepoFetchError);
    expect(nx).toMatchObject({ reason: 'fetch_failed', soon: false });
    expect(judgeFetchFailure(await failureOf(fetch(`http://127.0.0.1:${await closedPort()}/`)), did, 'x')).toMatchObject({ reason: 'fetch_failed', soon: true });
    // A verdict a port already reached (the address guard) is kept, even when undici wrapped it.
    const guarded = new SkytideError('forbidden_address', 'refusing 10.0.0.1');
    expect(judgeFetchFailure(new TypeError('fetch failed', { cause: guarded }), did, 'x')).toBe(guarded);
  });
});

describe('withDnsOutageCheck', () => {
  it("one name's broken DNS, while the resolver answers for the PLC directory's name, is that host's failure", async () => {
    const fetchPort = withDnsOutageCheck(fetchVia(resolver()), createResolverCheck({ referenceHost: 'plc.example', lookup: (h) => resolver().resolve4(h) }));
    const err = await failureOf(fetchPort('https://lame.example/xrpc/com.atproto.sync.getRepo'));
    expect(err).toBeInstanceOf(SkytideError);
    expect(err).not.toBeInstanceOf(DependencyError);
    expect(err).toMatchObject({ reason: 'fetch_failed', message: 'DNS for lame.example fails (ESERVFAIL) while the resolver answers for others' });
    expect(judgeFetchFailure(err, 'did:plc:lame', 'https://lame.example')).toBe(err);
  });

  it('a resolver that answers nobody is an outage, and so is any DNS failure when there is no name to check with', async () => {
    const down = resolver(`127.0.0.1:${await closedPort()}`);
    const checked = withDnsOutageCheck(fetchVia(down), createResolverCheck({ referenceHost: 'plc.example', lookup: (h) => down.resolve4(h) }));
    await expect(checked('https://pds.example/x')).rejects.toMatchObject({ name: 'DependencyError', dependency: 'dns' });
    const local = withDnsOutageCheck(fetchVia(resolver()), createResolverCheck({ referenceHost: '127.0.0.1' }));
    await expect(local('https://lame.example/x')).rejects.toMatchObject({ name: 'DependencyError', dependency: 'dns' });
  });

  it('leaves every other failure and every answer alone', async () => {
    const fetchPort = withDnsOutageCheck(fetchVia(resolver()), createResolverCheck({ referenceHost: 'plc.example', lookup: (h) => resolver().resolve4(h) }));
    const nx = await failureOf(fetchPort('https://nope.example/x'));
    expect(classifyNetworkFailure(nx)).toEqual({ kind: 'no_such_host', code: 'ENOTFOUND' });
    expect((await fetchPort('https://plc.example/hang', { signal: AbortSignal.timeout(50) }).catch((e: unknown) => e)) as Error).toMatchObject({ name: 'TimeoutError' });
  });
});
