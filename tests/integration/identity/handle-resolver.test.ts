// The HandleResolver adapter tells "points nowhere" from "could not find out" (issue 8, item 6), against a real DNS
// server and a real web server of the test's own: only NXDOMAIN / no usable TXT record together with a 404 (or a
// host that does not exist) is a definite "nowhere"; a resolver that fails or times out is an outage of the dns
// dependency; a handle's own web server failing is a failure to find out that is not an outage.
import http from 'node:http';
import { Resolver } from 'node:dns/promises';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandleResolver, type HandleResolverOptions } from '../../../adapters/identity/handle-resolver.ts';
import { createResolverCheck } from '../../../adapters/xrpc/dns-outage-check.ts';
import { DependencyError, SkytideError } from '../../../functions/errors.ts';
import type { Fetch } from '../../../functions/ports.ts';
import { startFakeDns, type FakeDns } from '../../helpers/fake-dns.ts';

const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';
let dns: FakeDns;
let web: http.Server;
let webPort: number;
/** What each handle's web server answers at /.well-known/atproto-did. */
const wellKnown = new Map<string, (res: http.ServerResponse) => void>();

beforeAll(async () => {
  dns = await startFakeDns();
  // https://<handle>/<path> arrives here as /<handle>/<path>.
  web = http.createServer((req, res) => {
    const [, host = '', ...path] = (req.url ?? '/').split('/');
    const answer = wellKnown.get(host);
    if (answer === undefined || path.join('/') !== '.well-known/atproto-did') res.writeHead(404).end();
    else answer(res);
  });
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', () => r()));
  webPort = (web.address() as AddressInfo).port;
});
afterAll(async () => {
  web.closeAllConnections();
  await Promise.all([dns.close(), new Promise((r) => web.close(r))]);
});

/** The adapter as deployed, with its lookups sent to the test's DNS server and https://<handle> to its web server. */
function resolver(webUp = true, extra: Partial<HandleResolverOptions> = {}) {
  const r = new Resolver({ timeout: 150, tries: 1 });
  r.setServers([dns.server]);
  const fetch: Fetch = async (input, init) => {
    const url = new URL(String(input));
    if (!webUp) throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
    return globalThis.fetch(`http://127.0.0.1:${webPort}/${url.host}${url.pathname}`, init);
  };
  return createHandleResolver({ fetch, timeoutMs: 1000, resolveTxt: (name) => r.resolveTxt(name), lookupHost: (host) => r.resolve4(host), ...extra });
}

/** As deployed under Node: a "try again" is checked against the PLC directory's name (here plc.example) on the same DNS server. */
function checkedResolver(webUp = true) {
  const r = new Resolver({ timeout: 150, tries: 1 });
  r.setServers([dns.server]);
  return resolver(webUp, { resolverAnswers: createResolverCheck({ referenceHost: 'plc.example', lookup: (host) => r.resolve4(host) }) });
}

describe('handle resolver: definite answers', () => {
  it('a single did= TXT record is the answer', async () => {
    dns.set('_atproto.txt.example', { txt: [`did=${DID}`] });
    expect(await resolver().resolve('txt.example')).toBe(DID);
  });

  it('a DID in DNS is the answer at once: the well-known asked meanwhile is abandoned, not waited for', async () => {
    // Both were awaited: a host whose port 443 drops packets cost every such handle the whole timeout.
    dns.set('_atproto.tarpit.example', { txt: [`did=${DID}`] });
    let abandoned = false;
    const tarpit: Fetch = (_input, init) => new Promise((_, reject) => {
      init?.signal?.addEventListener('abort', () => {
        abandoned = true;
        reject(init.signal?.reason);
      }, { once: true });
    });
    const r = new Resolver({ timeout: 150, tries: 1 });
    r.setServers([dns.server]);
    // An hour's timeout: waiting for the well-known would outlast the test.
    const handles = createHandleResolver({ fetch: tarpit, timeoutMs: 3_600_000, resolveTxt: (name) => r.resolveTxt(name), lookupHost: (host) => r.resolve4(host) });
    expect(await handles.resolve('tarpit.example')).toBe(DID);
    expect(abandoned).toBe(true);
  });

  it('the well-known answers when DNS has no record', async () => {
    dns.set('web.example', { a: '127.0.0.1' });
    wellKnown.set('web.example', (res) => res.writeHead(200).end(`${DID}\n`));
    expect(await resolver().resolve('web.example')).toBe(DID);
  });

  it('the well-known may have whitespace around the DID, a leading newline included', async () => {
    dns.set('spaced.example', { a: '127.0.0.1' });
    for (const body of [`\n${DID}\n`, `  \r\n\t${DID} \r\n`, `${DID}\r\n`]) {
      wellKnown.set('spaced.example', (res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(body));
      expect(await resolver().resolve('spaced.example'), JSON.stringify(body)).toBe(DID);
    }
  });

  it('NXDOMAIN and a 404 well-known: the handle points nowhere', async () => {
    dns.set('gone.example', { a: '127.0.0.1' });
    expect(await resolver().resolve('gone.example')).toBeUndefined();
  });

  it('no TXT record and a host that does not exist: nowhere', async () => {
    dns.set('_atproto.nohost.example', 'empty');
    expect(await resolver(false).resolve('nohost.example')).toBeUndefined();
  });

  it('TXT records that name no single DID and a well-known that is not a DID: nowhere', async () => {
    dns.set('_atproto.two.example', { txt: [`did=${DID}`, 'did=did:plc:another00000000000000000'] });
    dns.set('two.example', { a: '127.0.0.1' });
    wellKnown.set('two.example', (res) => res.writeHead(200).end('<html>hello</html>'));
    expect(await resolver().resolve('two.example')).toBeUndefined();
  });
});

describe('handle resolver: could not find out', () => {
  it.each([
    ['SERVFAIL', { rcode: 'SERVFAIL' } as const],
    ['REFUSED', { rcode: 'REFUSED' } as const],
    ['a resolver that never answers', 'silent' as const],
  ])('%s for the TXT record is an outage of the dns dependency, even when the well-known says 404', async (_name, behaviour) => {
    dns.set('_atproto.flaky.example', behaviour);
    dns.set('flaky.example', { a: '127.0.0.1' });
    const err = await resolver().resolve('flaky.example').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DependencyError);
    expect(err).toMatchObject({ reason: 'dependency_unavailable', dependency: 'dns' });
  });

  it('a well-known that cannot be fetched while the host lookup fails too is an outage', async () => {
    dns.set('_atproto.down.example', 'empty');
    dns.set('down.example', { rcode: 'SERVFAIL' });
    await expect(resolver(false).resolve('down.example')).rejects.toBeInstanceOf(DependencyError);
  });

  it("the handle's own web server failing (500, or refusing) is not an outage, and not an answer either", async () => {
    dns.set('_atproto.broken.example', 'empty');
    dns.set('broken.example', { a: '127.0.0.1' });
    wellKnown.set('broken.example', (res) => res.writeHead(500).end());
    for (const r of [resolver(), resolver(false)]) {
      const err = await r.resolve('broken.example').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SkytideError);
      expect(err).not.toBeInstanceOf(DependencyError);
      expect(err).toMatchObject({ reason: 'identity_failed' });
    }
  });

  it('a DID over DNS still wins while the web server is down', async () => {
    dns.set('_atproto.dnsonly.example', { txt: [`did=${DID}`] });
    expect(await resolver(false).resolve('dnsonly.example')).toBe(DID);
  });
});

describe("handle resolver: one domain's broken DNS is not an outage", () => {
  // A lame delegation or dead authoritative servers: the recursive resolver answers SERVFAIL for that domain only.
  // Taken for an outage, it was waited out for as long as the domain stayed broken: a handle_unverified follow-up, or
  // a backfill verifying the handle, held its consumer loop on it indefinitely.
  it('SERVFAIL for the handle while the PLC directory\'s name resolves: could not find out (identity_failed), the handle kept', async () => {
    dns.set('plc.example', { a: '127.0.0.1' });
    dns.set('_atproto.lame.example', { rcode: 'SERVFAIL' });
    dns.set('lame.example', { rcode: 'SERVFAIL' });
    for (const webUp of [true, false]) {
      const err = await checkedResolver(webUp).resolve('lame.example').catch((e: unknown) => e);
      expect(err, `web up: ${webUp}`).toBeInstanceOf(SkytideError);
      expect(err, `web up: ${webUp}`).not.toBeInstanceOf(DependencyError);
      expect(err, `web up: ${webUp}`).toMatchObject({ reason: 'identity_failed' });
    }
  });

  it('SERVFAIL for the PLC directory\'s name too: our resolver is down, an outage', async () => {
    dns.set('plc.example', { rcode: 'SERVFAIL' });
    dns.set('_atproto.lame2.example', { rcode: 'SERVFAIL' });
    dns.set('lame2.example', { rcode: 'SERVFAIL' });
    await expect(checkedResolver().resolve('lame2.example')).rejects.toMatchObject({ name: 'DependencyError', dependency: 'dns' });
  });

  it('a DID over DNS is still the answer, and nothing is checked', async () => {
    dns.set('plc.example', { rcode: 'SERVFAIL' });
    dns.set('_atproto.fine.example', { txt: [`did=${DID}`] });
    expect(await checkedResolver().resolve('fine.example')).toBe(DID);
  });
});

describe('handle resolver: names DNS cannot carry, and a resolver that never answers', () => {
  it('a valid handle too long for _atproto.<handle> (over 253 characters) has no TXT record: not asked, not an outage', async () => {
    const handle = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(50)}.example`;
    expect(handle.length).toBe(250);
    const asked: string[] = [];
    // Asked, node:dns refuses the name itself (EBADNAME), which read as a resolver failing: waited out for good.
    const txt = async (name: string) => {
      asked.push(name);
      throw Object.assign(new Error('queryTxt EBADNAME'), { code: 'EBADNAME' });
    };
    expect(await resolver(true, { resolveTxt: txt, lookupHost: async () => undefined }).resolve(handle)).toBeUndefined();
    expect(asked).toEqual([]);
  });

  it('a TXT lookup that never answers is cut at the timeout: the well-known\'s DID is the answer', async () => {
    dns.set('slowdns.example', { a: '127.0.0.1' });
    wellKnown.set('slowdns.example', (res) => res.writeHead(200).end(DID));
    // Without the cut, the answer waits for the TXT lookup forever (the system resolver's own retries take half a minute).
    const answer = await resolver(true, { timeoutMs: 300, resolveTxt: () => new Promise<string[][]>(() => {}) }).resolve('slowdns.example');
    expect(answer).toBe(DID);
  });
});

describe('handle resolver: a resolver service (HANDLE_RESOLVER_URL)', () => {
  it('400 and 404 are answers; a 5xx or no service at all is an outage', async () => {
    const answers = new Map<string, [number, unknown]>([
      ['known.test', [200, { did: DID }]],
      ['unknown.test', [400, { error: 'InvalidRequest', message: 'Unable to resolve handle' }]],
      ['missing.test', [404, {}]],
      ['busy.test', [503, {}]],
    ]);
    const service = http.createServer((req, res) => {
      const [status, body] = answers.get(new URL(req.url ?? '/', 'http://x').searchParams.get('handle') ?? '') ?? [500, {}];
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    await new Promise<void>((r) => service.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(service.address() as AddressInfo).port}`;
    try {
      const r = createHandleResolver({ fetch: globalThis.fetch, serviceUrl: url });
      expect(await r.resolve('known.test')).toBe(DID);
      expect(await r.resolve('unknown.test')).toBeUndefined();
      expect(await r.resolve('missing.test')).toBeUndefined();
      await expect(r.resolve('busy.test')).rejects.toMatchObject({ name: 'DependencyError', dependency: 'dns' });
    } finally {
      await new Promise((r) => service.close(r));
    }
    const nobody = createHandleResolver({ fetch: globalThis.fetch, serviceUrl: url, timeoutMs: 500 });
    await expect(nobody.resolve('known.test')).rejects.toMatchObject({ name: 'DependencyError', dependency: 'dns' });
  });
});
