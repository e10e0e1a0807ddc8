// The Worker entry (wrangler.toml, adapters/runtime/worker.ts) under workerd, the Cloudflare Workers runtime, served
// locally by `wrangler dev`: the bundle loads (no I/O, timers or random values at module scope, which workerd
// forbids), the Hono app answers, and the index function writes to a real Postgres through postgres.js over the
// runtime's own sockets.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIndexDb, type IndexDb } from '../helpers/index-db.ts';
import { post, write } from '../helpers/events.ts';
import { waitFor } from '../helpers/wait.ts';

const WRANGLER = fileURLToPath(new URL('../../node_modules/wrangler/bin/wrangler.js', import.meta.url));
const DID = 'did:plc:workerdaaaaaaaaaaaaaaaaa';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let db: IndexDb;
let wrangler: ChildProcess;
let base: string;
let output = '';

beforeAll(async () => {
  db = await createIndexDb('worker');
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  wrangler = spawn(
    process.execPath,
    [WRANGLER, 'dev', '--ip', '127.0.0.1', '--port', String(port), '--var', `DATABASE_URL:${db.url}`, '--var', 'SKYTIDE_API_TOKEN:worker-token', '--log-level', 'info'],
    { env: { ...process.env, CI: 'true', WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  wrangler.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  wrangler.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  await waitFor(
    async () => (wrangler.exitCode !== null ? 'exited' : await fetch(`${base}/health`).then((r) => r.status, () => 0)),
    (status) => status === 200 || status === 'exited',
    'wrangler dev to serve the Worker',
    90_000,
  );
  if (wrangler.exitCode !== null) throw new Error(`wrangler dev exited:\n${output}`);
}, 120_000);

afterAll(async () => {
  if (wrangler !== undefined && wrangler.exitCode === null) {
    const exited = new Promise((resolve) => wrangler.once('exit', resolve));
    wrangler.kill('SIGTERM');
    await exited;
  }
  await db?.close();
});

describe('the Worker under workerd', () => {
  it('loads and answers health and readiness, Postgres included', async () => {
    expect(output).not.toMatch(/Uncaught|Disallowed operation/);
    expect(await (await fetch(`${base}/health`)).json()).toEqual({ status: 'ok' });
    expect(await (await fetch(`${base}/ready`)).json()).toEqual({ status: 'ready', checks: [{ name: 'postgres', ok: true }], degraded: [] });
  });

  it('runs the index function: valid events become rows, a malformed one is dead, a request without the token is refused', async () => {
    const events = [
      write({ did: DID, collection: 'app.bsky.feed.post', rkey: 'p1', rev: 1, record: post('from a Worker') }),
      { type: 'create' },
    ];
    const denied = await fetch(`${base}/functions/index`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ events }) });
    expect(denied.status).toBe(401);
    const res = await fetch(`${base}/functions/index`, {
      method: 'POST',
      headers: { authorization: 'Bearer worker-token', 'content-type': 'application/json' },
      body: JSON.stringify({ events }),
    });
    expect(res.status, output).toBe(200);
    const body = (await res.json()) as { outcomes: { status: string; reason?: string }[] };
    expect(body.outcomes[0]).toEqual({ status: 'ok' });
    expect(body.outcomes[1]).toMatchObject({ status: 'dead', reason: 'invalid_event' });
    expect(await db.sql.query(`select uri, text from post`)).toEqual([{ uri: `at://${DID}/app.bsky.feed.post/p1`, text: 'from a Worker' }]);
    expect(await db.sql.query(`select "postsCount" from profile_agg where did = $1`, [DID])).toEqual([{ postsCount: 1 }]);
  });

  it('serves request after request: no connection is shared across requests, which workerd forbids', async () => {
    for (const rkey of ['p2', 'p3', 'p4']) {
      const res = await fetch(`${base}/functions/index`, {
        method: 'POST',
        headers: { authorization: 'Bearer worker-token', 'content-type': 'application/json' },
        body: JSON.stringify({ events: [write({ did: DID, collection: 'app.bsky.feed.post', rkey, rev: 2, record: post(rkey) })] }),
      });
      expect(res.status, output).toBe(200);
    }
    expect(await db.sql.query(`select "postsCount" from profile_agg where did = $1`, [DID])).toEqual([{ postsCount: 4 }]);
  });
});
