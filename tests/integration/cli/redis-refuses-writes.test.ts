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

beforeAll(async () => {
  [server, relay] = await Promise.all([startPrivateRedis(), startFakeRelay()]);
  redis = new Redis(server.url);
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
    for (let seq = 1; seq <= 3; seq++) relay.append(seq, identityFrame(seq, DID));
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
    for (let seq = 4; seq <= 6; seq++) relay.append(seq, identityFrame(seq, DID));
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
});
