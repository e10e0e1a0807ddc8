// The Worker's cron sweep (adapters/runtime/worker-sweep.ts) under workerd, against a relay that goes out of reach
// mid-pass: workerd's fetch fails there without the errno codes node's gives, and the sweep must still read it as an
// outage (waited out, tick after tick) rather than a page that fails in itself, which is skipped after
// SWEEP_PAGE_ATTEMPTS ticks: a relay down for three cron ticks would have cost the pass a page of repos.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIndexDatabase, type IndexDb } from '../helpers/index-db.ts';
import { startWranglerDev, type WranglerDev } from '../helpers/wrangler-dev.ts';

const DROPPED = 'did:plc:sweepoutageaaaaaaaaaaaaa';
let db: IndexDb;
let worker: WranglerDev;
let relay: http.Server;
let relayUrl: string;

beforeAll(async () => {
  db = await createIndexDatabase('worker_sweep_outage');
  // Page 1 lists one account, which the filter drops (nothing queued), and hands a numeric cursor; there is no
  // page 2: the relay is gone by then.
  relay = http.createServer((_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ repos: [{ did: DROPPED, active: true }], cursor: '1000' })));
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  relayUrl = `http://127.0.0.1:${(relay.address() as AddressInfo).port}`;
  worker = await startWranglerDev({
    databaseUrl: db.url,
    testScheduled: true,
    vars: { IDENTITY_ALLOW_PRIVATE: 'true', INGESTER_EXCLUDE_DIDS: DROPPED, INGESTER_RELAY_HOSTS: relayUrl, WORKER_SWEEP_PAGES_PER_TICK: '1', SWEEP_PAGE_ATTEMPTS: '2', SWEEP_PAGE_TIMEOUT_MS: '5000' },
  });
}, 120_000);

afterAll(async () => {
  await worker?.stop();
  await db?.close();
});

const tick = async () => expect((await fetch(`${worker.base}/__scheduled?cron=${encodeURIComponent('*/5 * * * *')}`)).status, worker.output()).toBe(200);
const row = async () => (await db.sql.query(`select cursor, failures, skipped from sweep_state where host = $1`, [relayUrl]))[0];

describe('the Worker sweep under workerd', () => {
  it('waits out a relay out of reach mid-pass: no failure counted against its page, nothing skipped', async () => {
    await tick();
    expect(await row()).toEqual({ cursor: '1000', failures: 0, skipped: [] });
    await new Promise<void>((resolve) => relay.close(() => resolve()));
    for (let i = 0; i < 3; i++) await tick();
    expect(await row(), worker.output()).toEqual({ cursor: '1000', failures: 0, skipped: [] });
  }, 60_000);
});
