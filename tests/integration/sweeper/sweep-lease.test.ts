// One sweep per host at a time, against real Redis, Postgres, a listRepos server on 127.0.0.1 that can hold a page
// back (so a sweep can be caught mid-way), and real `skytide` processes: a second sweep of a host is refused while
// the first holds the lease and every repo is queued once; a crashed holder's lease expires and the next sweep
// resumes from the stored cursor; nobody but the holder can renew, release or write under a lease; POST /sweep
// answers 409 while a sweep runs, and the sweep it starts stops with SIGTERM and leaves its progress durable.
import http from 'node:http';
import net from 'node:net';
import { spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import type { Redis } from 'ioredis';
import { claimSweep, runSweep, sweepLeaseKey, DEFAULT_SWEEP_LIMITS } from '../../../long-runners/sweeper/sweep.ts';
import { createSweeper } from '../../../long-runners/sweeper/sweeper.ts';
import { createOnDemandSweeps, ON_DEMAND_SWEEP_TASK } from '../../../long-runners/sweeper/on-demand.ts';
import { acquireLease, amendUnderLease, appendUnderLease, releaseLease, renewLease } from '../../../adapters/redis/lease.ts';
import { createApp } from '../../../adapters/http/app.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { createKeySpace, SWEEP_DONE, type KeySpace } from '../../../adapters/redis/keys.ts';
import { noMetrics, silentLog, systemClock, type Log, type LogFields } from '../../../functions/ports.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { createTestRedis, TEST_REDIS_URL } from '../../helpers/services.ts';
import { fakeListRepos, queuedDids } from '../../helpers/fake-list-repos.ts';

const CLI = new URL('../../../long-runners/cli/main.ts', import.meta.url).pathname;
const DIDS = Array.from({ length: 6 }, (_, i) => `did:plc:lease${String(i).padStart(19, 'a')}`);
const PAGE = 2;

// listRepos over DIDS, PAGE at a time, numeric cursors; a page named in `held` waits until `releaseHeld()`.
let held = new Set<string>();
let waiting: (() => void)[] = [];
function releaseHeld(): void {
  held = new Set();
  for (const go of waiting.splice(0)) go();
}
const relay = fakeListRepos({
  dids: DIDS, pageSize: PAGE,
  onPage: ({ cursor }) => (held.has(cursor ?? '0') ? new Promise<void>((go) => waiting.push(go)) : undefined),
});
let host: string;
let redis: Redis;
let prefix: string;
let cleanup: () => Promise<void>;
let db: IndexDb;
let keys: KeySpace;

beforeAll(async () => {
  ({ redis, prefix, cleanup } = await createTestRedis('sweeplease'));
  db = await createIndexDb('sweeplease');
  host = await relay.listen();
});
afterAll(async () => {
  releaseHeld();
  await relay.close();
  await cleanup();
  await db.close();
});
beforeEach(() => {
  // Each test its own key space under the file's prefix (cleaned up at the end).
  keys = createKeySpace(`${prefix}${Math.random().toString(36).slice(2)}:`);
  releaseHeld();
});

const cursorNow = () => redis.get(keys.cursor('repo_backfill', host));
const queued = () => queuedDids(redis, keys);
const sweep = (holder: string, signal = new AbortController().signal) =>
  runSweep({ redis, keys, sql: db.sql, fetch: globalThis.fetch, host, highWaterMark: 1000, pageSize: PAGE, retryDelayMs: 5, holder, leaseTtlMs: 3000, log: silentLog, metrics: noMetrics, signal });

async function waitFor(predicate: () => Promise<boolean> | boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function cli(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env['PATH'] ?? '', REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: keys.stream(''), DATABASE_URL: db.url, INGESTER_RELAY_HOSTS: host, SWEEP_PAGE_SIZE: String(PAGE), ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, out: () => stdout, err: () => stderr };
}

function recordingLog(): Log & { lines: { level: string; msg: string; fields: LogFields }[] } {
  const lines: { level: string; msg: string; fields: LogFields }[] = [];
  const at = (level: string) => (msg: string, fields: LogFields = {}) => void lines.push({ level, msg, fields });
  const log = { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => log };
  return log;
}

describe('one sweep per host', () => {
  it('refuses a second sweep of the host while the first holds the lease, and queues every repo once', async () => {
    held = new Set(['2']);
    const first = sweep('sweeper-a');
    await waitFor(async () => (await cursorNow()) === '2', 'the first page to be durable');
    await expect(sweep('sweeper-b')).rejects.toMatchObject({ reason: 'sweep_running', context: { holder: 'sweeper-a' } });
    releaseHeld();
    expect(await first).toMatchObject({ pages: 3, listed: 6, queued: 6, done: true });
    expect(await queued()).toEqual(DIDS);
    // Released at the end: the next sweep of the host may start (and starts over, the listing being done).
    expect(await redis.exists(sweepLeaseKey(keys, host))).toBe(0);
    expect(await sweep('sweeper-b')).toMatchObject({ done: true });
  });

  it('a crashed holder (SIGKILL) keeps the host until its lease expires; the next sweep resumes from the stored cursor', async () => {
    held = new Set(['2']);
    const crashing = cli(['sweep'], { INDEXER_CONSUMER: 'crashing-sweeper', SWEEP_LEASE_TTL_MS: '5000' });
    await waitFor(async () => (await cursorNow()) === '2', 'the child to write its first page');
    crashing.child.kill('SIGKILL');
    expect(await crashing.exited).toBe(null);
    // Its lease outlives it for up to a TTL: no rival sweep meanwhile.
    await expect(sweep('next-sweeper')).rejects.toMatchObject({ reason: 'sweep_running', context: { holder: 'crashing-sweeper' } });
    await waitFor(async () => (await redis.exists(sweepLeaseKey(keys, host))) === 0, 'the lease to expire');
    releaseHeld();
    const resumed = await sweep('next-sweeper');
    expect(resumed).toMatchObject({ pages: 2, listed: 4, done: true });
    expect(await queued()).toEqual(DIDS);
    expect(await cursorNow()).toBe(SWEEP_DONE);
  });

  it('`skytide sweep` says a sweep is already running, leaves that host alone and exits 3', async () => {
    const claim = await claimSweep(redis, keys, host, 'holder-elsewhere', 10_000, silentLog);
    try {
      const refused = cli(['sweep'], {});
      expect(await refused.exited).toBe(3);
      expect(refused.err()).toContain('is already being swept by holder-elsewhere');
      expect(await queued()).toEqual([]);
    } finally {
      await claim.held?.release();
    }
  });

  it('a sweep that loses its lease writes nothing more and fails with lease_lost', async () => {
    held = new Set(['2']);
    const first = sweep('paused-sweeper');
    await waitFor(async () => (await cursorNow()) === '2', 'the first page');
    // As if the holder paused past its TTL and another sweep took the host meanwhile.
    await redis.set(sweepLeaseKey(keys, host), 'usurper token', 'PX', 10_000);
    releaseHeld();
    await expect(first).rejects.toMatchObject({ reason: 'lease_lost' });
    expect(await queued()).toEqual(DIDS.slice(0, PAGE));
    expect(await cursorNow()).toBe('2');
    expect(await redis.get(sweepLeaseKey(keys, host))).toBe('usurper token');
  });
});

describe('the lease', () => {
  it('refuses a write under it whole when a key it writes has another type: no entry lands without its cursor', async () => {
    const key = keys.stream('lease-types');
    const mine = await acquireLease(redis, key, 'me', 10_000);
    if (!mine.acquired) throw new Error('unreachable');
    const stream = keys.stream('types-s');
    const cursor = keys.stream('types-c');
    const set = keys.stream('types-set');
    // An operator's SET on the skipped ranges' set: the page's entries, its cursor and the range would be half written.
    await redis.set(set, 'not a set');
    const page = { stream, field: 'repo', values: ['x', 'y'], cursor: { key: cursor, value: '7' }, setAdd: { key: set, member: '1-2' } };
    await expect(appendUnderLease(redis, mine.lease, page)).rejects.toThrow(/is a string, not a set/);
    await expect(amendUnderLease(redis, mine.lease, { stream, field: 'repo', values: ['z'], set: { key: set, remove: [], add: ['3-4'] } })).rejects.toThrow(/is a string, not a set/);
    expect(await redis.exists(stream, cursor)).toBe(0);
    // The stream of another type: refused before the cursor moves.
    await redis.set(stream, 'not a stream');
    await expect(appendUnderLease(redis, mine.lease, { stream, field: 'repo', values: ['x'], cursor: { key: cursor, value: '8' } })).rejects.toThrow(/is a string, not a stream/);
    expect(await redis.type(stream)).toBe('string');
    expect(await redis.exists(cursor)).toBe(0);
    await redis.del(stream, set);
    expect(await appendUnderLease(redis, mine.lease, page)).toBe(true);
    expect(await redis.xlen(stream)).toBe(2);
    expect(await redis.get(cursor)).toBe('7');
    expect(await redis.smembers(set)).toEqual(['1-2']);
    await releaseLease(redis, mine.lease);
  });

  it('cannot be renewed, released or written under by anyone who does not hold it', async () => {
    const key = `${keys.stream('lease')}`;
    const mine = await acquireLease(redis, key, 'me', 10_000);
    expect(mine).toMatchObject({ acquired: true });
    expect(await acquireLease(redis, key, 'you', 10_000)).toEqual({ acquired: false, holder: 'me' });
    const forged = { key, value: 'you 00000000-0000-0000-0000-000000000000', ttlMs: 10_000 };
    expect(await renewLease(redis, forged)).toBe(false);
    expect(await releaseLease(redis, forged)).toBe(false);
    const write = { stream: keys.stream('s'), field: 'repo', values: ['x'], cursor: { key: keys.stream('c'), value: '1' } };
    expect(await appendUnderLease(redis, forged, write)).toBe(false);
    expect(await redis.xlen(keys.stream('s'))).toBe(0);
    expect(await redis.exists(keys.stream('c'))).toBe(0);
    if (!mine.acquired) throw new Error('unreachable');
    expect(await appendUnderLease(redis, mine.lease, write)).toBe(true);
    expect(await redis.xlen(keys.stream('s'))).toBe(1);
    expect(await renewLease(redis, mine.lease)).toBe(true);
    expect(await releaseLease(redis, mine.lease)).toBe(true);
    expect(await redis.exists(key)).toBe(0);
  });

  it('expires when not renewed, and an expired holder cannot release its successor', async () => {
    const key = `${keys.stream('lease')}`;
    const old = await acquireLease(redis, key, 'old', 100);
    if (!old.acquired) throw new Error('not acquired');
    await waitFor(async () => (await redis.exists(key)) === 0, 'expiry');
    const next = await acquireLease(redis, key, 'next', 10_000);
    expect(next).toMatchObject({ acquired: true });
    expect(await releaseLease(redis, old.lease)).toBe(false);
    expect(await renewLease(redis, old.lease)).toBe(false);
    expect((await redis.get(key))?.startsWith('next ')).toBe(true);
  });
});

describe('POST /sweep', () => {
  function appWith(startSweep: () => ReturnType<ReturnType<typeof createOnDemandSweeps>['start']>) {
    const bundle = createMetrics({ hosts: [], streams: [] });
    return createApp({
      auth: { dev: true, token: undefined },
      bodyLimitBytes: 1024,
      ports: { clock: systemClock, log: silentLog, metrics: bundle.metrics, sql: db.sql },
      metrics: { contentType: bundle.registry.contentType, render: () => bundle.registry.metrics() },
      readiness: [],
      startSweep,
    });
  }

  it('starts a supervised sweep (202), answers 409 while it runs, and SIGTERM stops it with its progress durable', async () => {
    held = new Set(['2']);
    const log = recordingLog();
    const sweeper = createSweeper({
      redis, keys, sql: db.sql, fetch: globalThis.fetch, hosts: [host], highWaterMark: 1000,
      limits: { ...DEFAULT_SWEEP_LIMITS, pageSize: PAGE, leaseTtlMs: 3000 }, holder: 'http-instance', log, metrics: noMetrics,
    });
    const sweeps = createOnDemandSweeps(sweeper, log);
    const app = appWith(() => sweeps.start());
    const stop = new AbortController();
    const task = sweeps.task.run(stop.signal);

    const started = await app.request('/sweep', { method: 'POST' });
    expect(started.status).toBe(202);
    expect(await started.json()).toEqual({ started: [host] });
    await waitFor(async () => (await cursorNow()) === '2', 'the first page');
    const again = await app.request('/sweep', { method: 'POST' });
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ error: 'sweep_running', busy: [{ host, holder: 'http-instance' }] });
    // Another process asking meets the same lease.
    await expect(sweep('cli-elsewhere')).rejects.toMatchObject({ reason: 'sweep_running' });

    stop.abort(); // what the supervisor does on SIGTERM
    await task;
    expect(await cursorNow()).toBe('2');
    expect(await queued()).toEqual(DIDS.slice(0, PAGE));
    expect(await redis.exists(sweepLeaseKey(keys, host))).toBe(0);
    expect((await app.request('/sweep', { method: 'POST' })).status).toBe(503);
    // The next sweep resumes where this one stopped.
    releaseHeld();
    expect(await sweep('next')).toMatchObject({ listed: 4, done: true });
    expect(await queued()).toEqual(DIDS);
  });

  it('logs a failed sweep with the task name and cause, releases the host and keeps serving', async () => {
    // A relay that refuses every page as a bad request while it answers a page of one from the start (asked whether it
    // is up): the failure is the page's own. Refusing that too, or the connection, it would be down, and waited out.
    const refusing = http.createServer((req, res) => {
      if (new URL(req.url ?? '/', 'http://x').searchParams.get('limit') === '1') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ repos: [{ did: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' }] }));
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'InvalidRequest' }));
    });
    await new Promise<void>((r) => refusing.listen(0, '127.0.0.1', () => r()));
    const deadHost = `http://127.0.0.1:${(refusing.address() as AddressInfo).port}`;
    onTestFinished(() => new Promise<void>((r) => refusing.close(() => r())));
    const log = recordingLog();
    const sweeper = createSweeper({
      redis, keys, sql: db.sql, fetch: globalThis.fetch, hosts: [deadHost], highWaterMark: 1000,
      limits: { ...DEFAULT_SWEEP_LIMITS, pageAttempts: 1 }, holder: 'http-instance', log, metrics: noMetrics,
    });
    const sweeps = createOnDemandSweeps(sweeper, log);
    const app = appWith(() => sweeps.start());
    const stop = new AbortController();
    const task = sweeps.task.run(stop.signal);
    expect((await app.request('/sweep', { method: 'POST' })).status).toBe(202);
    await waitFor(() => log.lines.some((l) => l.msg === 'sweep failed'), 'the failure to be logged');
    expect(log.lines.find((l) => l.msg === 'sweep failed')).toMatchObject({
      level: 'error',
      fields: { task: ON_DEMAND_SWEEP_TASK, host: deadHost, err: expect.stringContaining('listRepos keeps failing') },
    });
    await waitFor(async () => (await redis.exists(sweepLeaseKey(keys, deadHost))) === 0, 'the lease to be released');
    // The task is still there for the next request.
    expect((await app.request('/sweep', { method: 'POST' })).status).toBe(202);
    stop.abort();
    await task;
  });

  it('through `skytide run`: 202, then 409 while it runs, and SIGTERM exits 0 with the cursor durable', async () => {
    held = new Set(['2']);
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const run = cli(['run', '--only', 'http'], { HTTP_PORT: String(port), SKYTIDE_API_TOKEN: 'tok', SWEEP_LEASE_TTL_MS: '3000' });
    const post = () => fetch(`http://127.0.0.1:${port}/sweep`, { method: 'POST', headers: { authorization: 'Bearer tok' } }).catch(() => undefined);
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined))?.ok === true, 'the server');
    expect((await post())?.status).toBe(202);
    await waitFor(async () => (await cursorNow()) === '2', 'the first page');
    const busy = await post();
    expect(busy?.status).toBe(409);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(run.out()).toContain(`"task":"${ON_DEMAND_SWEEP_TASK}"`);
    expect(await cursorNow()).toBe('2');
    expect(await redis.exists(sweepLeaseKey(keys, host))).toBe(0);
  });
});
