// The container, built and run for real with podman (no Docker engine here, and no registry to pull a base image
// from): a base made by infra/make-base-image.sh (debootstrap bookworm + the npm registry's Node 22), infra/Dockerfile
// built on it, then inside the image: `skytide migrate` against this machine's Postgres, `skytide run` (the image's
// default command) ingesting a relay's firehose and indexing it, /health answering, the HEALTHCHECK passing, and
// SIGTERM stopping it with exit 0 after the cursor is flushed. Everything podman stores lives under
// ~/.cache/skytide/container (CONTAINER_CACHE_DIR), so a rerun reuses the base image and the dependency layer.
//
// This machine is itself a sandbox (a VM without CAP_SYS_RESOURCE, with hybrid cgroups v1 + v2, no systemd): podman
// works here with cgroupfs, file events, runc (crun refuses hybrid cgroups), chroot isolation for RUN steps, the
// host's network, and ulimits it may set. infra/README.md ("Container") has the why of each flag.
import { execFile, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { mkdirSync } from 'node:fs';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createTestRedis, createTestSchema, TEST_REDIS_URL } from '../helpers/services.ts';
import { startFakeRelay, type FakeRelay } from '../../long-runners/dev/fake-relay.ts';
import { buildCommitFrame } from '../helpers/frames.ts';
import { tid } from '../helpers/events.ts';
import { waitFor } from '../helpers/wait.ts';
import { createKeySpace } from '../../adapters/redis/keys.ts';

const ROOT = path.resolve(new URL('../..', import.meta.url).pathname);
const CACHE_DIR = process.env['CONTAINER_CACHE_DIR'] ?? path.join(os.homedir(), '.cache/skytide/container');
// Podman's storage records its runroot: one per storage root, so another CONTAINER_CACHE_DIR never clashes with it.
const RUN_ROOT = path.join(os.tmpdir(), `skytide-podman-${createHash('sha256').update(CACHE_DIR).digest('hex').slice(0, 12)}`);
const PODMAN_GLOBAL = [
  // overlay works on this ext4 root (vfs works too, but copies every layer whole: 5 min a build instead of 1).
  '--root', path.join(CACHE_DIR, 'storage-overlay'), '--runroot', RUN_ROOT,
  '--storage-driver', 'overlay', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', '--runtime', 'runc',
];
const IMAGE = 'localhost/skytide:test';
const FRAMES = 200;
const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';

const exec = promisify(execFile);

/**
 * podman runs outside the checkout: conmon writes a file named `oom` into its working directory when a container is
 * OOM-killed (the memory-limit test does that), which left an empty `oom` at the repository's root.
 */
const PODMAN_CWD = path.join(os.tmpdir(), 'skytide-podman-cwd');

async function podman(args: string[], timeoutMs = 60_000): Promise<{ stdout: string; stderr: string }> {
  mkdirSync(PODMAN_CWD, { recursive: true });
  return exec('podman', [...PODMAN_GLOBAL, ...args], { cwd: PODMAN_CWD, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
}

/** The current limits: a container may not raise them (no CAP_SYS_RESOURCE), and podman's defaults would. */
function ulimits(): string[] {
  const hard = spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).stdout.trim();
  const nofile = hard === 'unlimited' ? '65536' : String(Math.min(Number(hard), 65536));
  return ['--ulimit', `nofile=${nofile}:${nofile}`, '--ulimit', 'nproc=4096:4096'];
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

function logLines(text: string): Record<string, unknown>[] {
  return text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Prints how long each stage took: the figures infra/README.md quotes. */
async function timed<T>(what: string, run: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await run();
  } finally {
    process.stdout.write(`container: ${what} took ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  }
}

describe('the container image, built and run with podman', () => {
  let db: Awaited<ReturnType<typeof createTestSchema>>;
  let redis: Redis;
  let prefix: string;
  let cleanupRedis: () => Promise<void>;
  let relay: FakeRelay;
  const name = `skytide-test-${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    const found = spawnSync('sh', ['-c', 'command -v podman && command -v debootstrap && command -v runc'], { encoding: 'utf8' });
    if (found.status !== 0) throw new Error('this suite needs podman, debootstrap and runc: apt-get install -y podman debootstrap runc');
    db = await createTestSchema('container');
    ({ redis, prefix, cleanup: cleanupRedis } = await createTestRedis('container'));
    relay = await startFakeRelay();
  });
  afterAll(async () => {
    await podman(['rm', '--force', '--ignore', name]).catch(() => undefined);
    await relay?.close();
    await cleanupRedis?.();
    await db?.drop();
  });

  it('builds from a local base: multi-stage, production dependencies from the lock, non-root, health-checked', async () => {
    const base = await timed('base image (debootstrap + node@22, cached after the first run)', async () => {
      const { stdout } = await exec(path.join(ROOT, 'infra/make-base-image.sh'), [], {
        cwd: ROOT, timeout: 20 * 60_000, maxBuffer: 64 * 1024 * 1024,
        env: { ...process.env, CACHE_DIR, PODMAN: ['podman', ...PODMAN_GLOBAL].join(' ') },
      });
      return stdout.trim().split('\n').pop() ?? '';
    });
    expect(base).toMatch(/^localhost\/skytide-base:bookworm-node22\./);
    // The machine's CA bundle reaches npm as a build secret: egress here goes through a TLS-inspecting proxy.
    const secret = process.env['NODE_EXTRA_CA_CERTS'] ?? '/etc/ssl/certs/ca-certificates.crt';
    await timed('podman build', () =>
      podman([
        'build', '--format', 'docker', '--isolation', 'chroot', '--network', 'host', ...ulimits(),
        '--secret', `id=npm_ca,src=${secret}`, '--build-arg', `NODE_IMAGE=${base}`,
        '-f', path.join(ROOT, 'infra/Dockerfile'), '-t', IMAGE, ROOT,
      ], 25 * 60_000),
    );
    const [config] = JSON.parse((await podman(['image', 'inspect', IMAGE])).stdout) as { Config: Record<string, unknown>; Healthcheck?: { Test: string[] } }[];
    expect(config?.Config['User']).toBe('10001:10001');
    expect(config?.Config['Entrypoint']).toEqual(['node', 'bin/skytide.js']);
    expect(config?.Config['Cmd']).toEqual(['run', '--migrate']);
    expect(config?.Healthcheck?.Test.join(' ')).toContain('/health');
    // Production dependencies only: no devDependency, and no npm, in the image.
    const { stdout: listing } = await podman(['run', '--rm', '--network', 'host', ...ulimits(), '--entrypoint', 'sh', IMAGE, '-c',
      'id -u; ls node_modules; ls node_modules/@atproto 2>/dev/null | wc -l; command -v npm || echo no-npm']);
    const lines = listing.trim().split('\n');
    expect(lines[0]).toBe('10001');
    expect(lines).toContain('ioredis');
    expect(lines).not.toContain('vitest');
    expect(lines).not.toContain('wrangler');
    expect(lines.at(-2)).toBe('0');
    expect(lines.at(-1)).toBe('no-npm');
  });

  it('is held to its memory limit (what compose\'s limits rely on), and Node sizes itself to it', async () => {
    const run = (script: string) =>
      podman(['run', '--rm', '--network', 'host', ...ulimits(), '--memory', '96m', '--entrypoint', 'node', IMAGE, '-e', script]).then(
        ({ stdout }) => ({ code: 0, stdout }),
        (err: { code?: number; stdout?: string }) => ({ code: err.code ?? -1, stdout: err.stdout ?? '' }),
      );
    expect((await run('console.log(process.constrainedMemory())')).stdout.trim()).toBe(String(96 * 1024 * 1024));
    // 400 MB of buffers (outside the V8 heap) in 96 MB: the kernel's OOM killer ends it, exit 137.
    expect((await run('const a = []; for (let i = 0; i < 40; i++) a.push(Buffer.alloc(10 << 20, 1));')).code).toBe(137);
  });

  it('migrates this machine\'s Postgres from inside the container', async () => {
    const { stdout, stderr } = await timed('skytide migrate', () =>
      podman(['run', '--rm', '--network', 'host', ...ulimits(), '-e', `DATABASE_URL=${db.url}`, IMAGE, 'migrate'], 120_000),
    );
    const applied = logLines(stdout + stderr).find((l) => l['msg'] === 'migrations applied');
    expect(applied?.['applied']).toEqual(expect.arrayContaining(['0001_appview.sql', '0002_labels.sql']));
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      expect((await sql`select count(*)::int as n from post`)[0]?.['n']).toBe(0);
    } finally {
      await sql.end();
    }
  });

  it('runs `skytide run`, answers /health, passes its HEALTHCHECK, and on SIGTERM flushes its cursor and exits 0', async () => {
    for (let seq = 1; seq <= FRAMES; seq++) {
      const rev = tid(seq);
      const record = { $type: 'app.bsky.feed.post', text: `#${seq}`, createdAt: '2026-01-01T00:00:00.000Z' };
      relay.append(seq, (await buildCommitFrame({ seq, did: DID, rev, ops: [{ action: 'create', collection: 'app.bsky.feed.post', rkey: rev, record }] })).frame);
    }
    const port = await freePort();
    const env = {
      DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: prefix, HTTP_PORT: String(port), HTTP_HOST: '127.0.0.1',
      INGESTER_RELAY_HOSTS: relay.host, FIREHOSE_INITIAL_CURSOR: '0', INGESTER_TRUST_UPSTREAM: 'true', SKYTIDE_API_TOKEN: 'container-test',
      // Nothing leaves the machine: identity and handle lookups go to a closed local port.
      PLC_URL: 'http://127.0.0.1:9', LOG_LEVEL: 'info',
    };
    // The image's default command (`run --migrate`): every task in one supervised process.
    await podman(['run', '--detach', '--name', name, '--network', 'host', ...ulimits(), ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]), IMAGE]);
    const started = performance.now();
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined))?.status, (s) => s === 200, '/health from the container', 120_000);
    process.stdout.write(`container: /health answered ${((performance.now() - started) / 1000).toFixed(1)} s after podman run\n`);

    const cursorKey = createKeySpace(prefix).cursor('firehose_live', relay.host);
    await waitFor(async () => Number((await redis.get(cursorKey)) ?? 0), (c) => c === FRAMES, `cursor ${FRAMES}`, 60_000);
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      await waitFor(async () => (await sql`select count(*)::int as n from post`)[0]?.['n'] as number, (n) => n === FRAMES, `${FRAMES} posts indexed`, 60_000);
    } finally {
      await sql.end();
    }
    // The image's HEALTHCHECK, run by podman as the engine would run it.
    const health = await podman(['healthcheck', 'run', name]).then(() => 0, (err: { code?: number }) => err.code ?? 1);
    expect(health).toBe(0);

    await podman(['kill', '--signal', 'TERM', name]);
    const { stdout: code } = await podman(['wait', name], 60_000);
    expect(code.trim()).toBe('0');
    const { stdout, stderr } = await podman(['logs', name]);
    const lines = logLines(stdout + stderr);
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'shutdown requested', signal: 'SIGTERM' }));
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'subscription stopped', cursor: FRAMES }));
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'supervisor exiting', exitCode: 0 }));
    // The prebuilt libsecp256k1 addon loaded although install scripts were skipped.
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'signature backend', k256: 'libsecp256k1' }));
    expect(await redis.get(cursorKey)).toBe(String(FRAMES));
  });
});
