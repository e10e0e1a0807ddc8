// A hostile PDS and PLC on 127.0.0.1 (real HTTP servers started by the test): slow bodies, endless bodies, 500s, bytes
// that are not a CAR, a repo signed by the wrong key, and a DID document pointing the backfill at an internal
// address. None of them may stall the function past its deadline, exhaust memory, or end in anything but a clear,
// counted reason.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backfillRepos, type BackfillPorts } from '../../../functions/backfill-repo/handler.ts';
import { createIdentityResolver } from '../../../adapters/identity/resolver.ts';
import { createGuardedFetch } from '../../../adapters/xrpc/guarded-fetch.ts';
import { noMetrics, silentLog, systemClock } from '../../../functions/ports.ts';
import { formatDidKey } from '../../../functions/atproto/crypto/keys.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';

type Behaviour = (res: http.ServerResponse) => void;
const behaviours = new Map<string, Behaviour>();
let server: http.Server;
let base: string;
let db: IndexDb;

// A compressed secp256k1 point (the generator), valid as a key though no repo here is signed by it.
const KEY = formatDidKey({ curve: 'k256', bytes: Uint8Array.from(Buffer.from('0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798', 'hex')) }).slice('did:key:'.length);

function didDoc(did: string, pds: string) {
  return {
    id: did, alsoKnownAs: [`at://${did.slice(8)}.test`],
    verificationMethod: [{ id: '#atproto', type: 'Multikey', controller: did, publicKeyMultibase: KEY }],
    service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: pds }],
  };
}

beforeAll(async () => {
  db = await createIndexDb('hostile_pds');
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname.startsWith('/plc/')) {
      const did = decodeURIComponent(url.pathname.slice(5));
      const pds = did.endsWith('internal') ? 'https://10.0.0.1' : `${base}/pds/${did}`;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(didDoc(did, pds)));
      return;
    }
    const did = url.pathname.split('/')[2] ?? '';
    const behave = behaviours.get(did);
    if (behave === undefined) res.writeHead(404).end();
    else behave(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await db.close();
});

function ports(overrides: Partial<BackfillPorts> = {}): BackfillPorts {
  return {
    clock: systemClock, log: silentLog, metrics: noMetrics, sql: db.sql, fetch: globalThis.fetch, timeoutMs: 1500,
    identity: createIdentityResolver({ fetch: globalThis.fetch, plcUrl: `${base}/plc`, allowPrivate: true }),
    limits: { maxBytes: 256 * 1024, maxBlocks: 10_000, maxBlockBytes: 64 * 1024 },
    ...overrides,
  };
}

async function run(did: string, behave: Behaviour, p = ports()) {
  behaviours.set(did, behave);
  const started = Date.now();
  const { outcomes, reports } = await backfillRepos([{ did }], p);
  return { outcome: outcomes[0], report: reports[0], ms: Date.now() - started };
}

describe('backfill against a hostile PDS', () => {
  it('a body that trickles forever is cut at the deadline and retried later', async () => {
    // A real CAR, a byte every 200 ms: every byte so far is valid, so only the deadline can end it.
    const car = readFileSync(new URL('../../fixtures/indigo/testing/testdata/paul_staging.repo.car', import.meta.url));
    const { outcome, ms } = await run('did:plc:slowbody', (res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.ipld.car' });
      let sent = 0;
      const timer = setInterval(() => res.write(car.subarray(sent, ++sent)), 200);
      res.on('close', () => clearInterval(timer));
    });
    expect(outcome).toMatchObject({ status: 'retry', reason: 'fetch_failed' });
    expect(ms).toBeLessThan(5000);
  });

  it('an endless body is cut at the size limit, without buffering it', async () => {
    const chunk = Buffer.alloc(64 * 1024, 7);
    const { outcome } = await run('did:plc:endless', (res) => {
      res.writeHead(200);
      const pump = () => {
        while (res.write(chunk)) {
          /* keep writing until the socket pushes back */
        }
      };
      res.on('drain', pump);
      pump();
    });
    expect(outcome).toMatchObject({ status: 'dead' });
    expect(['repo_too_large', 'invalid_car']).toContain((outcome as { reason: string }).reason);
  });

  it('a 500 is retried; RepoTakendown updates the account and is not retried', async () => {
    expect((await run('did:plc:fivehundred', (res) => res.writeHead(500).end('oops'))).outcome).toMatchObject({ status: 'retry', reason: 'fetch_failed' });
    const gone = await run('did:plc:takendown', (res) =>
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'RepoTakendown', message: 'gone' })),
    );
    expect(gone.outcome).toEqual({ status: 'ok' });
    expect(gone.report).toMatchObject({ status: 'unavailable', reason: 'RepoTakendown' });
    expect(await db.sql.query(`select "upstreamStatus" from actor where did = 'did:plc:takendown'`)).toEqual([{ upstreamStatus: 'takendown' }]);
    expect(await db.sql.query(`select status, reason from repo_sync where did = 'did:plc:takendown'`)).toEqual([{ status: 'desynchronized', reason: 'RepoTakendown' }]);
  });

  it('bytes that are not a CAR are rejected as such', async () => {
    const { outcome } = await run('did:plc:notacar', (res) => res.writeHead(200).end('<html>hello</html>'));
    expect(outcome).toMatchObject({ status: 'dead', reason: 'invalid_car' });
  });

  it('a DID document that points the PDS at an internal address is refused when private addresses are not allowed', async () => {
    const strict = ports({ fetch: createGuardedFetch({ allowPrivate: false }) });
    const { outcome } = await run('did:plc:internal', () => {}, strict);
    expect(outcome).toMatchObject({ status: 'dead', reason: 'forbidden_address' });
    expect((outcome as { message: string }).message).toContain('10.0.0.1');
  });

  it('a bad DID is a clear dead outcome, never a fetch', async () => {
    const { outcomes } = await backfillRepos([{ did: 'did:plc:' }], ports());
    expect(outcomes[0]).toMatchObject({ status: 'dead', reason: 'invalid_syntax' });
  });
});
