// SIGTERM to a real `skytide run --only backfill` while a repo downloads from a PDS that never finishes its answer:
// the download is cut short, the process exits 0 at once, and the repo stays pending with its delivery taken back,
// no failure recorded. (It sat out the download's deadline, 2 minutes by default, until the supervisor's 25 s shutdown
// timeout ended it with exit code 1.)
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { Secp256k1Keypair } from '@atproto/crypto';
import { createTestRedis, createTestSchema, TEST_REDIS_URL } from '../../helpers/services.ts';
import { startFakePlc, type FakePlc } from '../../helpers/fake-plc.ts';
import { repoDoc } from '../../helpers/fake-pds.ts';
import { createKeySpace, GROUPS, STREAMS } from '../../../adapters/redis/keys.ts';

const CLI = new URL('../../../long-runners/cli/main.ts', import.meta.url).pathname;
const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';

let db: Awaited<ReturnType<typeof createTestSchema>>;
let redis: Awaited<ReturnType<typeof createTestRedis>>;
let plc: FakePlc;
let pds: http.Server;
let asked = 0;

beforeAll(async () => {
  db = await createTestSchema('backfill_stop');
  redis = await createTestRedis('backfill_stop');
  // A PDS that starts its answer and never ends it.
  pds = http.createServer((_req, res) => {
    asked++;
    res.writeHead(200, { 'content-type': 'application/vnd.ipld.car' });
    res.write(Buffer.from([0x3a]));
  });
  await new Promise<void>((ok) => pds.listen(0, '127.0.0.1', () => ok()));
  plc = await startFakePlc();
  plc.set(DID, repoDoc(DID, (await Secp256k1Keypair.create()).did(), `http://127.0.0.1:${(pds.address() as AddressInfo).port}`));
});
afterAll(async () => {
  pds.closeAllConnections();
  pds.close();
  await plc.close();
  await redis.cleanup();
  await db.drop();
});

describe('skytide run --only backfill, stopped mid-download', () => {
  it('cuts the download short, exits 0 at once, and leaves the repo pending with its delivery taken back', async () => {
    const keys = createKeySpace(redis.prefix);
    const stream = keys.stream(STREAMS.repoBackfill);
    await redis.redis.xadd(stream, '*', 'repo', JSON.stringify({ did: DID }));
    const child = spawn(process.execPath, [CLI, 'run', '--only', 'backfill', '--migrate'], {
      env: {
        PATH: process.env['PATH'] ?? '', DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: redis.prefix,
        PLC_URL: plc.url, IDENTITY_ALLOW_PRIVATE: 'true', HTTP_PORT: '0', LOG_LEVEL: 'info', BACKFILLER_CONCURRENCY: '1',
      },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((ok) => child.once('exit', (code) => ok(code)));
    const deadline = Date.now() + 20_000;
    while (asked === 0 && Date.now() < deadline) await new Promise((ok) => setTimeout(ok, 50));
    expect(asked).toBe(1);
    await new Promise((ok) => setTimeout(ok, 300));
    const sent = Date.now();
    child.kill('SIGTERM');
    const code = await exited;
    expect({ code, fast: Date.now() - sent < 10_000 }, out).toEqual({ code: 0, fast: true });
    const pending = (await redis.redis.xpending(stream, GROUPS.repoBackfill, '-', '+', 10)) as [string, string, number, number][];
    expect(pending.map(([, , , deliveries]) => deliveries)).toEqual([0]);
    expect(await redis.redis.xlen(keys.dlq(STREAMS.repoBackfill))).toBe(0);
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      // As a crash would leave it: in progress, no failure recorded against the repo.
      const rows = await sql`select status from repo_sync where did = ${DID}`;
      expect(rows.map((r) => r['status'])).toEqual(['in-progress']);
    } finally {
      await sql.end();
    }
  }, 60_000);
});
