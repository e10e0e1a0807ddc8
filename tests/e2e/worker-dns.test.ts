// Handle resolution under workerd, as the Worker resolves (`#system-dns`, the guarded fetch), against one server of
// the test's own that answers both its DNS-over-HTTPS questions (https://cloudflare-dns.com/dns-query, JSON) and the
// handles' well-knowns. A DoH answer with Status SERVFAIL or REFUSED, a DoH service answering 503, or one whose
// answer is not JSON is an outage (wait and retry), as the same failures of Node's resolver are
// (tests/integration/identity/doh-client.test.ts); only NXDOMAIN and an answer without the record are verdicts.
// workerd's own node:dns reports SERVFAIL and REFUSED as ENOTFOUND, and any failure of its lookup() too.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkerd, type Workerd } from '../helpers/workerd.ts';

const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';

/** Per handle: what the DoH service answers for its names (`_atproto.<handle>` TXT, `<handle>` A and AAAA). */
type Doh = { status: number; txt?: string[] } | { http: number } | 'not-json';
const doh = new Map<string, { txt: Doh; host?: Doh; wellKnown: 'missing' | 'drop' }>();

let server: http.Server;
let worker: Workerd;

function answerDoh(res: http.ServerResponse, name: string, type: string, a: Doh) {
  if (a === 'not-json') return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>busy</html>');
  if ('http' in a) return void res.writeHead(a.http).end();
  const Answer = type === 'TXT' ? a.txt?.map((t) => ({ name, type: 16, TTL: 60, data: `"${t}"` })) : undefined;
  res.writeHead(200, { 'content-type': 'application/dns-json' }).end(JSON.stringify({ Status: a.status, Question: [{ name, type: type === 'TXT' ? 16 : 1 }], ...(Answer === undefined ? {} : { Answer }) }));
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    const url = new URL(req.url ?? '/', 'http://x');
    if (host === 'cloudflare-dns.com' && url.pathname === '/dns-query') {
      const name = url.searchParams.get('name') ?? '';
      const type = url.searchParams.get('type') ?? '';
      const handle = doh.get(name.replace(/^_atproto\./, ''));
      if (handle === undefined) return answerDoh(res, name, type, { status: 3 });
      return answerDoh(res, name, type, type === 'TXT' ? handle.txt : (handle.host ?? { status: 3 }));
    }
    if (doh.get(host)?.wellKnown === 'drop') return void req.socket.destroy();
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  worker = await startWorkerd(fileURLToPath(new URL('./worker-dns/entry.ts', import.meta.url)), { port: (server.address() as AddressInfo).port });
}, 60_000);

afterAll(async () => {
  await worker?.stop();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
});

async function resolve(handle: string): Promise<unknown> {
  return (await fetch(`${worker.base}/?handle=${handle}`)).json();
}

describe('handle resolution under workerd', () => {
  it('a did= TXT record over DoH is the answer', async () => {
    doh.set('txt.example', { txt: { status: 0, txt: [`did=${DID}`] }, wellKnown: 'missing' });
    expect(await resolve('txt.example'), worker.output()).toEqual({ did: DID });
  });

  it('NXDOMAIN, or NOERROR without a TXT record, with a 404 well-known: the handle points nowhere', async () => {
    doh.set('nxdomain.example', { txt: { status: 3 }, wellKnown: 'missing' });
    doh.set('nodata.example', { txt: { status: 0 }, wellKnown: 'missing' });
    expect(await resolve('nxdomain.example')).toEqual({ did: null });
    expect(await resolve('nodata.example')).toEqual({ did: null });
  });

  it('SERVFAIL or REFUSED from the DoH service is a DNS outage, not "no record"', async () => {
    doh.set('servfail.example', { txt: { status: 2 }, wellKnown: 'missing' });
    doh.set('refused.example', { txt: { status: 5 }, wellKnown: 'missing' });
    expect(await resolve('servfail.example'), worker.output()).toEqual({ outage: 'dns' });
    expect(await resolve('refused.example'), worker.output()).toEqual({ outage: 'dns' });
  });

  it('a DoH service answering 503, or something that is not its JSON, is a DNS outage', async () => {
    doh.set('down.example', { txt: { http: 503 }, wellKnown: 'missing' });
    doh.set('garbled.example', { txt: 'not-json', wellKnown: 'missing' });
    expect(await resolve('down.example')).toEqual({ outage: 'dns' });
    expect(await resolve('garbled.example')).toEqual({ outage: 'dns' });
  });

  it('a well-known that cannot be fetched: the host lookup over DoH decides, and its outage is an outage', async () => {
    doh.set('gone.example', { txt: { status: 3 }, host: { status: 3 }, wellKnown: 'drop' });
    doh.set('unsure.example', { txt: { status: 3 }, host: { http: 503 }, wellKnown: 'drop' });
    expect(await resolve('gone.example'), worker.output()).toEqual({ did: null });
    expect(await resolve('unsure.example'), worker.output()).toEqual({ outage: 'dns' });
  });
});
