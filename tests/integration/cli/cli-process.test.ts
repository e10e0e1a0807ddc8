// The `skytide` process as operators run it: real Redis and Postgres, a real HTTP port, real signals.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { createSql } from '../../../adapters/postgres/client.ts';
import { readServerSettings, writeSettingAdvice, writeSettingsOf } from '../../../adapters/postgres/server-settings.ts';
import { createScratchDatabase } from '../../helpers/scratch-database.ts';
import { createTestRedis, createTestSchema, TEST_REDIS_URL } from '../../helpers/services.ts';

const CLI = new URL('../../../long-runners/cli/main.ts', import.meta.url).pathname;

interface Run {
  child: ChildProcessWithoutNullStreams;
  lines: Record<string, unknown>[];
  exited: Promise<number | null>;
}

/** Every process a test started, killed after it if still running (a test that failed may leave one hanging). */
const children: ChildProcessWithoutNullStreams[] = [];

function start(args: string[], env: Record<string, string>): Run {
  const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env['PATH'] ?? '', ...env } });
  children.push(child);
  const lines: Record<string, unknown>[] = [];
  let buffer = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    const parts = buffer.split('\n');
    buffer = parts.pop() ?? '';
    for (const p of parts) if (p.trim().startsWith('{')) lines.push(JSON.parse(p));
  });
  child.stderr.on('data', () => {});
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, lines, exited };
}

async function waitFor(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

describe('skytide process', () => {
  let db: Awaited<ReturnType<typeof createTestSchema>>;
  let redis: Awaited<ReturnType<typeof createTestRedis>>;
  let env: Record<string, string>;

  beforeAll(async () => {
    db = await createTestSchema('cli');
    redis = await createTestRedis('cli');
    env = { DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: redis.prefix, SKYTIDE_API_TOKEN: 't', INDEXER_CLAIM_IDLE_MS: '1000' };
  });
  afterEach(() => {
    for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  afterAll(async () => {
    await redis.cleanup();
    await db.drop();
  });

  it('migrates, serves, and on SIGTERM stops every task and exits 0', async () => {
    const port = await freePort();
    // A DID waiting for its identity on a configured relay (as the firehose adapter leaves it in Redis).
    await redis.redis.hset(`${redis.prefix}firehose_live:waiting:relay.example`, 'did:plc:ewvi7nxzyoun6zhxrhs64oiz', JSON.stringify({ since: 0, on: 'plc' }));
    const run = start(['run', '--only', 'index,http', '--migrate'], { ...env, HTTP_PORT: String(port), INGESTER_RELAY_HOSTS: 'https://relay.example' });
    await waitFor(() => run.lines.some((l) => l['msg'] === 'http listening'), 'http listening');
    // An index process says when the server's autovacuum is off (this machine's CI configuration has it off).
    const admin = postgres(db.url, { max: 1, onnotice: () => {} });
    const [setting] = await admin<{ autovacuum: string }[]>`select current_setting('autovacuum') as autovacuum`;
    await admin.end();
    const warned = () => run.lines.some((l) => l['msg'] === 'postgres setting' && String(l['problem']).startsWith('autovacuum is off'));
    if (setting?.autovacuum === 'off') await waitFor(warned, 'the autovacuum warning');
    else expect(warned()).toBe(false);
    // And which of its write settings slow a sustained index, as writeSettingAdvice judges what the server reports.
    const reader = createSql(db.url, { max: 1 });
    const expected = writeSettingAdvice(writeSettingsOf(await readServerSettings(reader)));
    await reader.end();
    const advised = () => run.lines.filter((l) => l['msg'] === 'postgres setting slows the index').map((l) => l['advice']);
    if (expected.length > 0) await waitFor(() => advised().length === expected.length, 'the write-setting advice');
    expect(advised()).toEqual(expected);
    const ready = await fetch(`http://127.0.0.1:${port}/ready`);
    // Waiting out an identity outage is not a reason to take the instance out of service: ready, and degraded.
    expect(ready.status).toBe(200);
    expect((await ready.json()).degraded).toEqual([{ name: 'identity_wait', waitingDids: { 'relay.example': 1 } }]);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toContain('skytide_index_batches_total{outcome="ok"} 0');
    expect(metrics).toContain('skytide_repo_sync{status="desynchronized"} 0');
    expect(metrics).toContain('skytide_identity_waiting_dids{host="relay.example"} 1');
    const status = await (await fetch(`http://127.0.0.1:${port}/`)).json();
    expect(status.status.repoSync).toEqual({ synchronized: 0, desynchronized: 0, 'in-progress': 0, deleted: 0 });
    expect(status.status.identityWaits).toEqual({ 'relay.example': 1 });
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(run.lines).toContainEqual(expect.objectContaining({ msg: 'shutdown requested', signal: 'SIGTERM' }));
    expect(run.lines).toContainEqual(expect.objectContaining({ msg: 'supervisor exiting', exitCode: 0 }));
  });

  it('serves /health, /ready and /metrics without the http task, and no function route', async () => {
    // `run --only index`: a consumer service of a split deployment, health-gated and scraped like the API one.
    const port = await freePort();
    const run = start(['run', '--only', 'index', '--migrate'], { ...env, HTTP_PORT: String(port) });
    await waitFor(() => run.lines.some((l) => l['msg'] === 'http listening'), 'http listening');
    expect(run.lines).toContainEqual(expect.objectContaining({ msg: 'http listening', port, routes: 'operations' }));
    const health = await fetch(`http://127.0.0.1:${port}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`http://127.0.0.1:${port}/ready`);
    expect(ready.status).toBe(200);
    // `tasks`: no task found hung by the watchdog (SKYTIDE_TASK_STUCK_MS).
    expect((await ready.json()).checks.map((c: { name: string }) => c.name)).toEqual(['redis', 'postgres', 'tasks']);
    const metrics = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    expect(text).toContain('skytide_index_batches_total{outcome="ok"} 0');
    // There from start-up at zero, before any task is ever found hung.
    expect(text).toContain('skytide_tasks_stuck_total 0');
    const index = await fetch(`http://127.0.0.1:${port}/functions/index`, { method: 'POST', headers: { authorization: 'Bearer t' }, body: '[]' });
    expect(index.status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(404);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(run.lines).toContainEqual(expect.objectContaining({ msg: 'task stopped', task: 'http:operations' }));
  });

  it('checks only Redis for readiness where no task uses Postgres', async () => {
    const port = await freePort();
    // An unreachable database: a firehose service neither needs it nor reports it.
    const run = start(['run', '--only', 'firehose'], {
      ...env, HTTP_PORT: String(port), DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', INGESTER_RELAY_HOSTS: 'relay.invalid',
    });
    await waitFor(() => run.lines.some((l) => l['msg'] === 'http listening'), 'http listening');
    const ready = await fetch(`http://127.0.0.1:${port}/ready`);
    expect(ready.status).toBe(200);
    expect((await ready.json()).checks).toEqual([{ name: 'redis', ok: true }, { name: 'tasks', ok: true }]);
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(200);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
  });

  it('with Redis down answers /ready 503 and /metrics, and on SIGTERM exits 1 naming the tasks that did not stop', async () => {
    // Commands wait for Redis to come back (the long-runners' clients wait out an outage); the answers to an
    // orchestrator, and the shutdown, must not.
    const port = await freePort();
    const run = start(['run', '--only', 'index'], { ...env, HTTP_PORT: String(port), REDIS_URL: 'redis://127.0.0.1:1', LOG_LEVEL: 'info' });
    await waitFor(() => run.lines.some((l) => l['msg'] === 'http listening'), 'http listening');
    const ready = await fetch(`http://127.0.0.1:${port}/ready`, { signal: AbortSignal.timeout(10_000) });
    expect(ready.status).toBe(503);
    expect((await ready.json()).checks).toEqual([
      { name: 'redis', ok: false, error: 'DeadlineError: redis did not answer within 2000 ms' },
      { name: 'postgres', ok: true },
      { name: 'tasks', ok: true },
    ]);
    const metrics = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(10_000) });
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('skytide_index_batches_total{outcome="ok"} 0');
    run.child.kill('SIGTERM');
    // The consumers' reads wait for Redis, so they do not stop within the shutdown timeout (25 s): named, exit 1.
    expect(await run.exited).toBe(1);
    expect(run.lines).toContainEqual(expect.objectContaining({ msg: 'tasks did not stop in time', tasks: ['index:firehose_live:0', 'index:firehose_backfill:0'] }));
    expect(run.lines).toContainEqual(expect.objectContaining({ msg: 'supervisor exiting', exitCode: 1 }));
  }, 90_000);

  it('with Redis down answers the routes that need it with a 503 or without it, instead of when Redis is back', async () => {
    // The clients wait out an outage, so POST /sweep (its leases), the JSON status (stream lengths, cursors) and a
    // reprocess (its identity cache) answered only once Redis returned; the README promises a 503 with Retry-After.
    const port = await freePort();
    const plc = http.createServer((_req, res) => void res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"DID not registered"}'));
    await new Promise<void>((r) => plc.listen(0, '127.0.0.1', () => r()));
    try {
      const run = start(['run', '--only', 'http'], {
        ...env, HTTP_PORT: String(port), REDIS_URL: 'redis://127.0.0.1:1', INGESTER_RELAY_HOSTS: 'relay.example.com',
        PLC_URL: `http://127.0.0.1:${(plc.address() as net.AddressInfo).port}`, IDENTITY_ALLOW_PRIVATE: 'true', SKYTIDE_MIGRATE_ON_START: 'true',
      });
      await waitFor(() => run.lines.some((l) => l['msg'] === 'http listening'), 'http listening');
      const auth = { authorization: 'Bearer t' };
      const sweep = await fetch(`http://127.0.0.1:${port}/sweep`, { method: 'POST', headers: auth, signal: AbortSignal.timeout(15_000) });
      expect(sweep.status).toBe(503);
      expect(sweep.headers.get('retry-after')).toBe('10');
      expect(await sweep.json()).toMatchObject({ error: 'dependency_unavailable', dependency: 'redis' });
      const status = await fetch(`http://127.0.0.1:${port}/status.json`, { signal: AbortSignal.timeout(15_000) });
      expect(status.status).toBe(503);
      // The directory's verdict (no such DID: identity_failed, 502 as a retry may mend it) needs no Redis: the
      // identity cache goes on without it.
      const reprocess = await fetch(`http://127.0.0.1:${port}/reprocess/did:plc:aaaaaaaaaaaaaaaaaaaaaaaa`, { method: 'POST', headers: auth, signal: AbortSignal.timeout(15_000) });
      expect(reprocess.status).toBe(502);
      expect(await reprocess.json()).toMatchObject({ error: 'identity_failed' });
    } finally {
      plc.close();
    }
  }, 60_000);

  it('exits 143 at once on a second SIGTERM while tasks are still stopping', async () => {
    const port = await freePort();
    const run = start(['run', '--only', 'index'], { ...env, HTTP_PORT: String(port), REDIS_URL: 'redis://127.0.0.1:1', LOG_LEVEL: 'info' });
    await waitFor(() => run.lines.some((l) => l['msg'] === 'http listening'), 'http listening');
    run.child.kill('SIGTERM');
    await waitFor(() => run.lines.some((l) => l['msg'] === 'stopping all tasks'), 'the stop');
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(143);
    expect(run.lines).toContainEqual(expect.objectContaining({ msg: 'second signal, exiting now', signal: 'SIGTERM' }));
  }, 30_000);

  it('tells the operator within a bound that Redis does not answer: status, dlq and consumers exit 1', async () => {
    const commands = [['status'], ['dlq', 'list', 'firehose_live'], ['consumers']];
    const outs = await Promise.all(commands.map((args) => new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env['PATH'] ?? '', ...env, REDIS_URL: 'redis://127.0.0.1:1' } });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      // Past the bound and then some: a command still running has hung, as they did.
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, stderr });
      });
    })));
    commands.forEach((args, i) => {
      expect(outs[i]?.code, args.join(' ')).toBe(1);
      expect(outs[i]?.stderr).toContain(`skytide ${args[0]}: Redis at 127.0.0.1:1 did not answer within 10 s`);
    });
  }, 60_000);

  it('logs which task exited and why, stops the rest, and exits non-zero', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const taken = (blocker.address() as net.AddressInfo).port;
    try {
      const run = start(['run', '--only', 'index,http'], { ...env, HTTP_PORT: String(taken) });
      expect(await run.exited).toBe(1);
      const exit = run.lines.find((l) => l['msg'] === 'task exited');
      expect(exit).toMatchObject({ level: 'error', task: 'http', reason: 'threw' });
      expect(String(exit?.['err'])).toContain('EADDRINUSE');
      expect(run.lines).toContainEqual(expect.objectContaining({ msg: 'task stopped', task: 'index:firehose_live:0' }));
    } finally {
      blocker.close();
    }
  });

  it('names every bad configuration value and exits 2 before starting anything', async () => {
    const run = start(['run'], { ...env, INGESTER_BATCH_SIZE: 'lots' });
    expect(await run.exited).toBe(2);
  });

  it('answers an unknown option or a reprocess argument that is not a resolvable DID as a usage error: exit 2, said on stderr', () => {
    const usage = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { env: { PATH: process.env['PATH'] ?? '', ...env }, encoding: 'utf8' });
    const bogus = usage(['run', '--bogus']);
    expect(bogus.status).toBe(2);
    expect(bogus.stderr).toContain("Unknown option '--bogus'");
    expect(bogus.stderr).not.toContain('command failed');
    const notDid = usage(['reprocess', 'not-a-did']);
    expect(notDid.status).toBe(2);
    expect(notDid.stderr).toContain('reprocess: not a DID: "not-a-did"');
    expect(notDid.stdout).toBe('');
    // A DID in form that can never resolve (a method atproto does not use): the same usage error, before any lookup.
    const never = usage(['reprocess', 'did:example:abc']);
    expect(never.status).toBe(2);
    expect(never.stderr).toContain('reprocess: did:example:abc can never resolve: only did:plc and did:web are supported');
  });

  it.each([
    ['migrate', ['migrate']],
    // The image's default command: as PID 1, a SIGTERM it did not handle would be ignored until the orchestrator kills it.
    ['run --migrate', ['run', '--only', 'index', '--migrate']],
  ])('on SIGTERM during %s logs it and exits 143, applying nothing', async (_, args) => {
    // In a database of its own (advisory locks are per database), hold the migrations' lock so that `migrate` waits
    // inside its transaction, then stop it there. pg_locks shows every database's locks: the probe looks at this one's
    // only, or a migration of another suite waiting on the same lock at that moment would send the SIGTERM too early.
    const scratch = await createScratchDatabase('cli_migrate');
    const holder = postgres(scratch.url, { max: 1, onnotice: () => {} });
    const probe = postgres(scratch.url, { max: 1, onnotice: () => {} });
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holding = holder.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(7323051)`;
      locked();
      await held;
    });
    try {
      await isLocked;
      const run = start(args, { ...env, DATABASE_URL: scratch.url, HTTP_PORT: '0' });
      await waitFor(async () => (await probe`select 1 from pg_locks where locktype = 'advisory' and objid = 7323051 and not granted and database = (select oid from pg_database where datname = current_database())`).length > 0, 'migrate waiting for the lock');
      run.child.kill('SIGTERM');
      expect(await run.exited).toBe(143);
      expect(run.lines.some((l) => l['msg'] === 'migrate interrupted, nothing applied' && l['signal'] === 'SIGTERM')).toBe(true);
      expect(await probe`select 1 from pg_tables where tablename = 'skytide_migrations'`).toHaveLength(0);
    } finally {
      release();
      await holding;
      await Promise.all([holder.end(), probe.end()]);
      await scratch.drop();
    }
  });
});
