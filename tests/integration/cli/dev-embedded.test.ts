// `skytide dev` brings its own services when their variables are not set (PGlite in `.skytide/dev-db/`, a private
// redis-server or the in-process Redis), and `skytide run` never does: production keeps its documented defaults.
import { spawn } from 'node:child_process';
import { mkdtempSync, symlinkSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const CLI = new URL('../../../long-runners/cli/main.ts', import.meta.url).pathname;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

/** A PATH with node and nothing else: no redis-server, no psql. */
function nodeOnlyPath(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'skytide-path-'));
  symlinkSync(process.execPath, path.join(dir, 'node'));
  return dir;
}

async function runUntilReady(args: string[], env: Record<string, string>, port: number) {
  const child = spawn(process.execPath, [CLI, ...args], { env: { HOME: os.homedir(), HTTP_PORT: String(port), ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 60_000;
  let ready: { status: number; body: unknown } | undefined;
  while (ready === undefined && Date.now() < deadline && child.exitCode === null) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/ready`);
      ready = { status: res.status, body: await res.json() };
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const status = ready === undefined ? undefined : await (await fetch(`http://127.0.0.1:${port}/status.json`).catch(() => fetch(`http://127.0.0.1:${port}/`))).json();
  child.kill('SIGTERM');
  const code = await exited;
  return { ready, status, code, stdout, stderr };
}

describe('embedded services', () => {
  it('skytide dev without DATABASE_URL or REDIS_URL (and no redis-server) runs on PGlite and the in-process Redis', async () => {
    const port = await freePort();
    const out = await runUntilReady(['dev', '--only', 'http'], { PATH: nodeOnlyPath(), INGESTER_RELAY_HOSTS: 'http://127.0.0.1:9', LOG_LEVEL: 'info' }, port);
    expect(out.ready, out.stderr + out.stdout).toEqual(expect.objectContaining({ status: 200 }));
    expect(out.stdout).toContain('"msg":"embedded postgres (PGlite)"');
    expect(out.stdout).toMatch(/"msg":"embedded redis","url":"redis:\/\/127\.0\.0\.1:\d+","kind":"in-process","durable":false/);
    expect(out.stderr).toContain('NOT DURABLE');
    expect(out.stdout).toContain('"msg":"migrations applied"');
    expect(out.code).toBe(0);
  }, 120_000);

  it('skytide dev without REDIS_URL starts a redis-server found on PATH privately, and stops it', async () => {
    const port = await freePort();
    const out = await runUntilReady(['dev', '--only', 'http'], { PATH: process.env['PATH'] ?? '', INGESTER_RELAY_HOSTS: 'http://127.0.0.1:9', LOG_LEVEL: 'info' }, port);
    expect(out.ready?.status, out.stderr + out.stdout).toBe(200);
    const url = /"msg":"embedded redis","url":"(redis:\/\/127\.0\.0\.1:\d+)","kind":"redis-server","durable":true/.exec(out.stdout)?.[1];
    expect(url).toBeDefined();
    expect(out.code).toBe(0);
    // Stopped with skytide: its port no longer answers.
    const refused = await new Promise<boolean>((resolve) => {
      const socket = net.connect(Number(new URL(url!).port), '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(false)));
      socket.once('error', () => resolve(true));
    });
    expect(refused).toBe(true);
  }, 120_000);

  it('skytide run without DATABASE_URL or REDIS_URL uses the documented defaults and starts nothing embedded', async () => {
    const port = await freePort();
    const out = await runUntilReady(['run', '--only', 'http'], { PATH: nodeOnlyPath(), LOG_LEVEL: 'info', SKYTIDE_API_TOKEN: 't' }, port);
    // The machine's Postgres and Redis are at the defaults here, so it is ready; nothing embedded was started.
    expect(out.ready?.status).toBe(200);
    expect(out.stdout).not.toContain('embedded');
    expect(out.stderr).not.toContain('NOT DURABLE');
    expect(out.code).toBe(0);
  }, 120_000);
});
