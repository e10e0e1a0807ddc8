// Runs a Worker under workerd with `wrangler dev` (workerd ships in the npm packages), on a free loopback port, with
// its state in a temporary folder, and waits until it answers. Wrangler tries to reach Cloudflare and logs
// ENOTFOUND here; that is harmless. `output` collects what it printed, for failure messages.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait.ts';
import { freePort } from './free-port.ts';

const WRANGLER = fileURLToPath(new URL('../../node_modules/wrangler/bin/wrangler.js', import.meta.url));


/** Hyperdrive refuses a connection string without a password; the test Postgres trusts loopback and ignores it. */
export function withPassword(url: string): string {
  const u = new URL(url);
  if (u.password === '') u.password = 'unused';
  return u.href;
}

export interface WranglerDev {
  base: string;
  output(): string;
  stop(): Promise<void>;
}

export interface WranglerDevOptions {
  /** wrangler.toml to run (default: the repository's). */
  config?: string;
  vars?: Record<string, string>;
  /** Adds --test-scheduled: GET /__scheduled?cron=... runs the `scheduled` export. */
  testScheduled?: boolean;
  /** Postgres for the HYPERDRIVE binding (wrangler dev's local Hyperdrive); it must name a password. */
  databaseUrl?: string;
  /** The path polled until it answers 200. */
  readyPath?: string;
}

/** Attempts when the port found free was taken before wrangler bound it (other test files pick ports meanwhile). */
const PORT_ATTEMPTS = 3;

export async function startWranglerDev(options: WranglerDevOptions = {}): Promise<WranglerDev> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (err) {
      if (attempt >= PORT_ATTEMPTS || !(err instanceof PortTaken)) throw err;
    }
  }
}

class PortTaken extends Error {}

async function startOnce(options: WranglerDevOptions): Promise<WranglerDev> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const persist = await mkdtemp(join(tmpdir(), 'skytide-wrangler-'));
  const args = [WRANGLER, 'dev', '--ip', '127.0.0.1', '--port', String(port), '--persist-to', persist, '--log-level', 'info'];
  if (options.config !== undefined) args.push('--config', options.config);
  if (options.testScheduled === true) args.push('--test-scheduled');
  for (const [name, value] of Object.entries(options.vars ?? {})) args.push('--var', `${name}:${value}`);
  let output = '';
  const child: ChildProcess = spawn(process.execPath, args, {
    env: {
      ...process.env, CI: 'true', WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1',
      ...(options.databaseUrl === undefined ? {} : { CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_HYPERDRIVE: withPassword(options.databaseUrl) }),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await rm(persist, { recursive: true, force: true });
  };
  await waitFor(
    async () => (child.exitCode !== null ? 'exited' : await fetch(`${base}${options.readyPath ?? '/health'}`).then((r) => r.status, () => 0)),
    (status) => status === 200 || status === 'exited',
    'wrangler dev to serve the Worker',
    90_000,
  );
  if (child.exitCode !== null) {
    await stop();
    if (output.includes('Address already in use')) throw new PortTaken(`wrangler dev found its port taken:\n${output}`);
    throw new Error(`wrangler dev exited:\n${output}`);
  }
  return { base, output: () => output, stop };
}
