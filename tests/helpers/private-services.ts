// Private Postgres clusters and redis-servers for tests that stop, restart or kill a service: each lives in a
// temporary folder on a port of its own, so disturbing it disturbs no other test. Real servers from the machine's
// packages (initdb/postgres from PostgreSQL, redis-server), never mocks.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

// A test process that dies must not leave servers behind: whatever is still running is killed at exit.
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});
function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

import { freePort } from './free-port.ts';

export { freePort };

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));
}

function postgresBin(): string {
  const root = '/usr/lib/postgresql';
  const version = readdirSync(root).sort((a, b) => Number(b) - Number(a))[0];
  if (version === undefined) throw new Error('no PostgreSQL server binaries under /usr/lib/postgresql');
  return path.join(root, version, 'bin');
}

/**
 * Commands run as the postgres user when we are root (initdb and postgres refuse to run as root). setpriv execs the
 * command in place, so our signals reach postgres itself (runuser would stay in between and keep them).
 */
function asPostgres(cmd: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', '--', cmd, ...args]] : [cmd, args];
}

export interface PrivatePostgres {
  port: number;
  /** The postmaster's process id while it runs (its backends are its children), for CPU accounting. */
  readonly pid: number | undefined;
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  url: string;
  /** Stops the server: `fast` is a clean shutdown, `immediate` a crash (recovery on the next start). */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  start(): Promise<void>;
  restart(mode?: 'fast' | 'immediate'): Promise<void>;
  readonly running: boolean;
  close(): Promise<void>;
}

/** What a private cluster runs with unless told otherwise (small: many tests start one at a time). */
const PRIVATE_POSTGRES_SETTINGS: Readonly<Record<string, string>> = { listen_addresses: '127.0.0.1', max_connections: '200', shared_buffers: '64MB', logging_collector: 'off' };

/** `settings`: server settings (`-c name=value`) over the defaults above, e.g. `{ max_wal_size: '8GB' }`. */
export async function startPrivatePostgres(settings: Readonly<Record<string, string>> = {}): Promise<PrivatePostgres> {
  for (const [name, value] of Object.entries(settings)) {
    if (!/^[a-z_.]+$/.test(name) || value === '') throw new Error(`not a server setting: ${JSON.stringify(name)}=${JSON.stringify(value)}`);
  }
  const options = Object.entries({ ...PRIVATE_POSTGRES_SETTINGS, ...settings }).flatMap(([name, value]) => ['-c', `${name}=${value}`]);
  const bin = postgresBin();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'skytide-pg-'));
  const data = path.join(dir, 'data');
  if (process.getuid?.() === 0) chownSync(dir, Number(execFileSync('id', ['-u', 'postgres']).toString().trim()), Number(execFileSync('id', ['-g', 'postgres']).toString().trim()));
  const [initCmd, initArgs] = asPostgres(path.join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale=C']);
  execFileSync(initCmd, initArgs, { stdio: 'ignore' });
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    const [cmd, args] = asPostgres(path.join(bin, 'postgres'), ['-D', data, '-p', String(port), '-k', dir, ...options]);
    child = track(spawn(cmd, args, { stdio: ['ignore', 'ignore', 'ignore'] }));
    await waitForPort(port, 30_000);
    // Accepting TCP is not accepting queries: wait until a query answers (recovery after a crash takes a moment).
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        execFileSync(path.join(bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port), '-q']);
        return;
      } catch {
        if (Date.now() > deadline) throw new Error('private postgres did not become ready');
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  const stop = async (mode: 'fast' | 'immediate' = 'fast') => {
    const c = child;
    if (c === undefined) return;
    child = undefined;
    // postgres: SIGINT is a fast shutdown, SIGQUIT an immediate one (as if it crashed).
    c.kill(mode === 'fast' ? 'SIGINT' : 'SIGQUIT');
    await exited(c);
    const deadline = Date.now() + 30_000;
    while (existsSync(path.join(data, 'postmaster.pid')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  };
  await start();
  return {
    port,
    get pid() {
      return child?.pid;
    },
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop,
    start,
    restart: async (mode) => {
      await stop(mode);
      await start();
    },
    get running() {
      return child !== undefined;
    },
    close: async () => {
      await stop('immediate');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface PrivateRedis {
  port: number;
  url: string;
  /** SHUTDOWN-like stop (SIGTERM: the append-only file is flushed), or SIGKILL. */
  stop(how?: 'graceful' | 'kill'): Promise<void>;
  start(): Promise<void>;
  restart(how?: 'graceful' | 'kill'): Promise<void>;
  readonly running: boolean;
  close(): Promise<void>;
}

/** A redis-server with an append-only file fsynced on every write (`appendfsync always`), so a SIGKILL loses nothing acknowledged. */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'skytide-redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    child = track(spawn('redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always',
      '--save', '', '--maxmemory-policy', 'noeviction', '--protected-mode', 'no',
    ], { stdio: 'ignore' }));
    await waitForPort(port, 15_000);
  };
  const stop = async (how: 'graceful' | 'kill' = 'graceful') => {
    const c = child;
    if (c === undefined) return;
    child = undefined;
    c.kill(how === 'graceful' ? 'SIGTERM' : 'SIGKILL');
    await exited(c);
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop,
    start,
    restart: async (how) => {
      await stop(how);
      await start();
    },
    get running() {
      return child !== undefined;
    },
    close: async () => {
      await stop('kill');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
