// `skytide dev` with no REDIS_URL: a `redis-server` found on PATH is started privately (its own port, its data in
// `.skytide/redis/` with an append-only file, stopped with skytide); without one, the in-process Redis of
// ./memory-redis, which is not durable (a banner says so). Dev only: production never falls back to either.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { startMemoryRedis } from './memory-redis/server.ts';

export interface EmbeddedRedis {
  url: string;
  kind: 'redis-server' | 'in-process';
  durable: boolean;
  close(): Promise<void>;
}

export const NOT_DURABLE_BANNER = [
  '',
  '  ┌──────────────────────────────────────────────────────────────────────────────┐',
  '  │ No REDIS_URL and no redis-server on PATH: streams and cursors are kept in an  │',
  '  │ in-process Redis. It is NOT DURABLE: everything queued is lost when skytide  │',
  '  │ dev stops. Install Redis (or set REDIS_URL) to keep it across restarts.      │',
  '  └──────────────────────────────────────────────────────────────────────────────┘',
  '',
].join('\n');

function onPath(command: string): boolean {
  return (process.env['PATH'] ?? '').split(path.delimiter).some((dir) => {
    try {
      accessSync(path.join(dir || '.', command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Whether a Redis answers PING on the port. A connection closed without a reply (a server shutting down) or silent for
 * `timeoutMs` is no answer: the promise always settles.
 */
export async function answersPing(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const done = (answer: boolean) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (d) => done(d.toString().startsWith('+PONG')));
    socket.once('error', () => done(false));
    socket.once('close', () => done(false));
  });
}

async function startRedisServer(projectDir: string): Promise<EmbeddedRedis> {
  const dir = path.join(projectDir, '.skytide', 'redis');
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const child: ChildProcess = spawn('redis-server', [
    '--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--appendonly', 'yes', '--save', '',
    '--maxmemory-policy', 'noeviction', '--daemonize', 'no', '--logfile', path.join(dir, 'redis.log'),
  ], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // A second signal (or any process.exit) skips close(): the server must not outlive the process on its port. 'exit'
  // handlers run synchronously, and kill() only sends the signal (redis-server then writes its append-only file).
  const stopWithProcess = () => {
    if (child.exitCode === null) child.kill('SIGTERM');
  };
  process.once('exit', stopWithProcess);
  for (let i = 0; i < 100; i++) {
    if (await answersPing(port)) break;
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode} (see ${dir}/redis.log)`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    kind: 'redis-server',
    durable: true,
    close: async () => {
      process.removeListener('exit', stopWithProcess);
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

export async function startEmbeddedRedis(projectDir: string): Promise<EmbeddedRedis> {
  if (onPath('redis-server')) return startRedisServer(projectDir);
  const memory = await startMemoryRedis();
  return { url: memory.url, kind: 'in-process', durable: false, close: () => memory.close() };
}
