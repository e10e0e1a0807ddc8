// The two runtimes' DNS agree: the same answers, given once by a DNS server (node:dns, c-ares: Node) and once by a
// DNS-over-HTTPS service (doh-client.ts: Workers), both real servers on 127.0.0.1, lead the handle resolver to the same
// outcome. NXDOMAIN and an answer without the record are verdicts; SERVFAIL, REFUSED and silence are outages, and so
// are what only DoH can do wrong: a non-2xx reply, or a body that is not its JSON.
import http from 'node:http';
import { Resolver } from 'node:dns/promises';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandleResolver } from '../../../adapters/identity/handle-resolver.ts';
import { createDohClient } from '../../../adapters/identity/doh-client.ts';
import { DependencyError } from '../../../functions/errors.ts';
import type { Fetch } from '../../../functions/ports.ts';
import { startFakeDns, type DnsBehaviour, type FakeDns } from '../../helpers/fake-dns.ts';

const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';
let dns: FakeDns;
let dohServer: http.Server;
let dohUrl: string;
/** What only a DoH service can answer, per name: an HTTP status, or a body that is not JSON. */
const dohOnly = new Map<string, number | 'not-json'>();
const behaviours = new Map<string, DnsBehaviour>();

const RCODE = { NXDOMAIN: 3, SERVFAIL: 2, REFUSED: 5 } as const;

beforeAll(async () => {
  dns = await startFakeDns();
  dohServer = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const name = url.searchParams.get('name') ?? '';
    const type = url.searchParams.get('type') === 'TXT' ? 16 : url.searchParams.get('type') === 'A' ? 1 : 28;
    const only = dohOnly.get(name);
    if (only === 'not-json') return void res.writeHead(200).end('<html>rate limited</html>');
    if (only !== undefined) return void res.writeHead(only).end();
    const b = behaviours.get(name) ?? { rcode: 'NXDOMAIN' };
    if (b === 'silent') return; // never answers: the client's deadline
    const Status = typeof b === 'object' && 'rcode' in b ? RCODE[b.rcode] : 0;
    const Answer = typeof b === 'object' && 'txt' in b && type === 16 ? b.txt.map((t) => ({ name, type, TTL: 60, data: `"${t}"` }))
      : typeof b === 'object' && 'a' in b && type === 1 ? [{ name, type, TTL: 60, data: b.a }] : undefined;
    res.writeHead(200, { 'content-type': 'application/dns-json' }).end(JSON.stringify({ Status, Question: [{ name, type }], ...(Answer ? { Answer } : {}) }));
  });
  await new Promise<void>((r) => dohServer.listen(0, '127.0.0.1', () => r()));
  dohUrl = `http://127.0.0.1:${(dohServer.address() as AddressInfo).port}/dns-query`;
});
afterAll(async () => {
  dohServer.closeAllConnections();
  await Promise.all([dns.close(), new Promise((r) => dohServer.close(r))]);
});

function set(name: string, b: DnsBehaviour) {
  behaviours.set(name, b);
  dns.set(name, b);
}

/** Every handle's well-known is unreachable, so the host lookup is asked too; `webAnswers404` makes it a 404 instead. */
function resolvers(webAnswers404: boolean) {
  const fetch: Fetch = async () => {
    if (webAnswers404) return new Response(null, { status: 404 });
    throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
  };
  const r = new Resolver({ timeout: 150, tries: 1 });
  r.setServers([dns.server]);
  const doh = createDohClient({ fetch: (i, init) => globalThis.fetch(i, init), url: dohUrl, timeoutMs: 300 });
  return {
    node: createHandleResolver({ fetch, timeoutMs: 1000, resolveTxt: (n) => r.resolveTxt(n), lookupHost: (h) => r.resolve4(h) }),
    doh: createHandleResolver({ fetch, timeoutMs: 1000, resolveTxt: doh.resolveTxt, lookupHost: doh.lookup }),
  };
}

async function outcome(p: Promise<string | undefined>): Promise<string> {
  try {
    return (await p) ?? 'nowhere';
  } catch (err) {
    return err instanceof DependencyError ? `outage:${err.dependency}` : `failed:${String(err)}`;
  }
}

describe('DNS over HTTPS and node:dns classify alike', () => {
  const cases: [string, DnsBehaviour, string][] = [
    ['did', { txt: [`did=${DID}`] }, DID],
    ['nxdomain', { rcode: 'NXDOMAIN' }, 'nowhere'],
    ['nodata', 'empty', 'nowhere'],
    ['not-a-did', { txt: ['v=spf1 -all'] }, 'nowhere'],
    ['servfail', { rcode: 'SERVFAIL' }, 'outage:dns'],
    ['refused', { rcode: 'REFUSED' }, 'outage:dns'],
    ['silent', 'silent', 'outage:dns'],
  ];
  for (const [label, behaviour, expected] of cases) {
    it(`TXT ${label}, a 404 well-known: ${expected} on both`, async () => {
      set(`_atproto.${label}.example`, behaviour);
      const { node, doh } = resolvers(true);
      const got = { node: await outcome(node.resolve(`${label}.example`)), doh: await outcome(doh.resolve(`${label}.example`)) };
      expect(got).toEqual({ node: expected, doh: expected });
    });
  }

  for (const [label, behaviour, expected] of [['gone', { rcode: 'NXDOMAIN' }, 'nowhere'], ['hostfail', { rcode: 'SERVFAIL' }, 'outage:dns']] as const) {
    it(`no TXT record, the well-known unreachable, the host's address ${label}: ${expected} on both`, async () => {
      set(`_atproto.${label}.example`, { rcode: 'NXDOMAIN' });
      set(`${label}.example`, behaviour);
      const { node, doh } = resolvers(false);
      const got = { node: await outcome(node.resolve(`${label}.example`)), doh: await outcome(doh.resolve(`${label}.example`)) };
      expect(got).toEqual({ node: expected, doh: expected });
    });
  }

  it('a DoH service answering 5xx, 4xx, or something that is not its JSON is an outage, never "no record"', async () => {
    for (const [i, reply] of ([503, 429, 'not-json'] as const).entries()) {
      dohOnly.set(`_atproto.dohfail${i}.example`, reply);
      expect(await outcome(resolvers(true).doh.resolve(`dohfail${i}.example`))).toBe('outage:dns');
    }
  });

  it('a DoH service that cannot be reached is an outage', async () => {
    const doh = createDohClient({ fetch: (i, init) => globalThis.fetch(i, init), url: 'http://127.0.0.1:1/dns-query', timeoutMs: 300 });
    const resolver = createHandleResolver({ fetch: async () => new Response(null, { status: 404 }), resolveTxt: doh.resolveTxt, lookupHost: doh.lookup });
    expect(await outcome(resolver.resolve('unreachable.example'))).toBe('outage:dns');
  });
});
