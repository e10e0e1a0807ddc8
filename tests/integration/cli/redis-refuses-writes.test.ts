// The firehose adapter as `skytide run --only firehose` runs it, on a redis-server of the test's own whose maxmemory
// is set below its use: Redis refuses every write (OOM, as at maxmemory with noeviction; a failover's read-only
// replica is refused the same way) while reads pass. That is an outage, waited out: the batch is held and written
// once Redis takes writes, the process stays up and says so on /ready. Stopped while Redis still refuses, it cannot
// flush: it exits 1 naming what it did not write, its cursor left before it.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startFakeRelay, type FakeRelay } from '../../../long-runners/dev/fake-relay.ts';
import { createKeySpace } from '../../../adapters/redis/keys.ts';
import { identityFrame } from '../../helpers/frames.ts';
import { freePort, startPrivateRedis, type PrivateRedis } from '../../helpers/private-services.ts';
import { waitFor } from '../../helpers/wait.ts';

const CLI = new URL('../../../long-runners/cli/main.ts', import.meta.url).pathname;
const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';

let server: PrivateRedis;
let redis: Redis;
let relay: FakeRelay;
const children: ChildProcessWithoutNullStreams[] = [];
/** The relay's last seq. */
let lastSeq = 0;
const append = (seq: number) => {
  relay.append(seq, identityFrame(seq, DID));
  lastSeq = seq;
};

beforeAll(async () => {
  [server, relay] = await Promise.all([startPrivateRedis(), startFakeRelay()]);
  redis = new Redis(server.url);
  // The test's own client while the server is stopped on purpose: its reconnect errors are expected.
  redis.on('error', () => {});
});
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await redis.config('SET', 'maxmemory', '0');
});
afterAll(async () => {
  redis?.disconnect();
  await relay?.close();
  await server?.close();
});

function startFirehose(port: number) {
  const child = spawn(process.execPath, [CLI, 'run', '--only', 'firehose'], {
    env: {
      PATH: process.env['PATH'] ?? '', REDIS_URL: server.url, INGESTER_RELAY_HOSTS: relay.host, FIREHOSE_INITIAL_CURSOR: '0',
      INGESTER_TRUST_UPSTREAM: 'true',
      // A batch is written when it holds 3 entries, never by the clock: what each refused batch holds is known.
      INGESTER_BATCH_SIZE: '3', INGESTER_BATCH_TIMEOUT_MS: '600000', HTTP_PORT: String(port), LOG_LEVEL: 'info',
    },
  });
  children.push(child);
  const lines: Record<string, unknown>[] = [];
  let buffer = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    const parts = buffer.split('\n');
    buffer = parts.pop() ?? '';
    for (const p of parts) if (p.startsWith('{')) lines.push(JSON.parse(p) as Record<string, unknown>);
  });
  child.stderr.on('data', () => {});
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, lines, exited };
}

describe('skytide run --only firehose while Redis refuses writes', () => {
  it('waits with the batch held, writes it once Redis takes writes, and exits 1 naming what a stop left unwritten', async () => {
    const keys = createKeySpace('');
    const stream = keys.stream('firehose_live');
    const cursorKey = keys.cursor('firehose_live', relay.host);
    for (let seq = 1; seq <= 3; seq++) append(seq);
    await redis.config('SET', 'maxmemory', '1');
    const port = await freePort();
    const run = startFirehose(port);
    const outage = async () => {
      const ready = await fetch(`http://127.0.0.1:${port}/ready`).catch(() => undefined);
      return ready === undefined ? undefined : { status: ready.status, body: (await ready.json()) as { degraded?: { name: string }[] } };
    };
    // Still running, still ready, and saying what it waits on.
    const waiting = await waitFor(outage, (r) => r?.body.degraded?.some((d) => d.name === 'outages') === true, 'the wait on /ready');
    expect(waiting?.status).toBe(200);
    expect(run.child.exitCode).toBeNull();
    expect(await redis.xlen(stream)).toBe(0);

    await redis.config('SET', 'maxmemory', '0');
    await waitFor(() => redis.get(cursorKey), (c) => c === '3', 'the cursor at 3');
    expect(await redis.xlen(stream)).toBe(3);
    await waitFor(outage, (r) => r?.body.degraded === undefined || r.body.degraded.every((d) => d.name !== 'outages'), 'the outage over');

    // Refused again, then stopped: nothing more can be written, so the stop says what it leaves and fails.
    await redis.config('SET', 'maxmemory', '1');
    for (let seq = 4; seq <= 6; seq++) append(seq);
    await waitFor(() => run.lines, (lines) => lines.some((l) => l['msg'] === 'redis refuses writes: the batch waits' && l['seq'] === 6 && l['entries'] === 3), 'the second batch refused');
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(1);
    const exit = run.lines.find((l) => l['msg'] === 'task exited');
    expect(exit).toMatchObject({ task: `firehose:${relay.host.replace('http://', '')}`, reason: 'threw' });
    expect(String(exit?.['err'])).toContain('3 entries');
    expect(String(exit?.['err'])).toContain('up to seq 6 were not written');
    expect(await redis.get(cursorKey)).toBe('3');
    expect(await redis.xlen(stream)).toBe(3);
  }, 60_000);

  it('stopped while Redis is down, names the batch that waits for it, and exits 1 once the shutdown times out, its cursor before it', async () => {
    const keys = createKeySpace('');
    const cursorKey = keys.cursor('firehose_live', relay.host);
    const port = await freePort();
    const run = startFirehose(port);
    // Whatever the relay holds (what an earlier test left unwritten too) is read and written first.
    const before = lastSeq;
    if (before > 0) await waitFor(() => redis.get(cursorKey), (c) => c === String(before), `the cursor at ${before}`);
    else await waitFor(() => run.lines, (lines) => lines.some((l) => l['msg'] === 'subscription connected'), 'the subscription connected');
    const sequenced = async () => Number(/skytide_firehose_frames_total\{host="[^"]+",kind="sequenced"\} (\d+)/.exec(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text())?.[1]);
    const read = await sequenced();
    // Redis goes (its append-only file kept), then a batch is read: its write waits for a Redis that does not come.
    await server.stop('graceful');
    try {
      for (let seq = before + 1; seq <= before + 3; seq++) append(seq);
      await waitFor(sequenced, (n) => n === read + 3, 'the batch read');
      run.child.kill('SIGTERM');
      expect(await run.exited).toBe(1);
    } finally {
      await server.start();
    }
    expect(run.lines).toContainEqual(expect.objectContaining({ msg: 'stop requested while a batch waits for redis', entries: 3, seq: before + 3 }));
    expect(run.lines).toContainEqual(expect.objectContaining({ msg: 'tasks did not stop in time' }));
    await waitFor(() => redis.ping().catch(() => undefined), (pong) => pong === 'PONG', 'redis back');
    expect(await redis.get(cursorKey)).toBe(before > 0 ? String(before) : null);
  }, 90_000);
});
