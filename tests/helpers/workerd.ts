// Runs one module Worker under workerd itself (the binary the npm package ships), without wrangler: the entry is
// bundled by esbuild with wrangler's conditions (`#guarded-fetch` and `#system-dns` pick their Web side), and every
// outbound fetch the Worker makes, whatever its URL (https://cloudflare-dns.com/..., https://<handle>/...), is sent
// as plain HTTP to one server of the test's own on loopback (globalOutbound), which sees the original Host.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { freePort } from './free-port.ts';
import { waitFor } from './wait.ts';

const WORKERD = fileURLToPath(new URL('../../node_modules/@cloudflare/workerd-linux-64/bin/workerd', import.meta.url));

export interface Workerd {
  base: string;
  output(): string;
  stop(): Promise<void>;
}

export async function startWorkerd(entry: string, outbound: { port: number }): Promise<Workerd> {
  const dir = await mkdtemp(join(tmpdir(), 'skytide-workerd-'));
  await build({
    entryPoints: [entry], outfile: join(dir, 'worker.js'), bundle: true, format: 'esm', platform: 'neutral',
    conditions: ['workerd', 'worker', 'browser'], mainFields: ['module', 'main'], external: ['node:*'], logLevel: 'silent',
  });
  const port = await freePort();
  await writeFile(join(dir, 'config.capnp'), `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = (modules = [(name = "worker.js", esModule = embed "worker.js")],
      compatibilityDate = "2026-11-01", globalOutbound = "outbound")), # nodejs_compat is the default from 2026-08-04
    (name = "outbound", external = (address = "127.0.0.1:${outbound.port}", http = ())),
  ],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);
`);
  const child = spawn(WORKERD, ['serve', join(dir, 'config.capnp'), '--experimental'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const base = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(() => fetch(`${base}/`).then(() => true, () => child.exitCode !== null), (up) => up, 'workerd to listen', 20_000);
    if (child.exitCode !== null) throw new Error(`workerd exited (${child.exitCode})`);
  } catch (err) {
    await stop();
    throw new Error(`workerd did not start: ${out}`, { cause: err });
  }
  return { base, output: () => out, stop };
}
