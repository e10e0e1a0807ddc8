// A real Redis Cluster for tests: three primaries (`redis-server --cluster-enabled yes`) on loopback ports in a
// temporary folder, joined by `redis-cli --cluster create`, with every slot covered before it is handed out. Each
// node's cluster bus listens on its port + 10000, so ports are picked where both are free. Killed at process exit.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export interface RedisClusterHandle {
  /** host:port of each primary, as REDIS_CLUSTER_NODES takes them. */
  nodes: string[];
  ports: number[];
  close(): Promise<void>;
  /** The port of the primary that serves `key`'s slot. */
  ownerOf(key: string): Promise<number>;
  /** Kills a primary (SIGKILL): its slots are served by nobody until it starts again. */
  killNode(port: number): Promise<void>;
  /** Starts a killed primary again on its port and nodes.conf, and waits until it reports the cluster ok. */
  startNode(port: number): Promise<void>;
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

async function pickPorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  for (let tries = 0; ports.length < count && tries < 500; tries++) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    if (ports.includes(port)) continue;
    if ((await portFree(port)) && (await portFree(port + 10_000))) ports.push(port);
  }
  if (ports.length < count) throw new Error('no free port pairs for a Redis Cluster');
  return ports;
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function cli(port: number, ...args: string[]): Promise<string> {
  return (await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args])).stdout;
}

export async function startRedisCluster(primaries = 3): Promise<RedisClusterHandle> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'skytide-cluster-'));
  const ports = await pickPorts(primaries);
  const spawnNode = (port: number) => {
    const child = spawn('redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--cluster-enabled', 'yes',
      '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '5000', '--appendonly', 'no', '--save', '',
      '--protected-mode', 'no', '--maxmemory-policy', 'noeviction',
    ], { stdio: 'ignore' });
    live.add(child);
    child.once('exit', () => live.delete(child));
    return child;
  };
  const children = ports.map(spawnNode);
  const killNode = async (port: number) => {
    const c = children[ports.indexOf(port)];
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    });
  };
  const startNode = async (port: number) => {
    children[ports.indexOf(port)] = spawnNode(port);
    await waitFor(async () => /cluster_state:ok/.test(await cli(port, 'cluster', 'info')), `cluster state ok on ${port} again`);
  };
  const ownerOf = async (key: string) => {
    const slot = Number((await cli(ports[0]!, 'cluster', 'keyslot', key)).trim());
    for (const line of (await cli(ports[0]!, 'cluster', 'nodes')).split('\n')) {
      const [, address, , , , , , , ...ranges] = line.split(' ');
      const inRange = ranges.some((r) => {
        const [a, b] = r.split('-').map(Number);
        return a !== undefined && slot >= a && slot <= (b ?? a);
      });
      if (inRange && address !== undefined) return Number(address.split('@')[0]!.split(':')[1]);
    }
    throw new Error(`no primary serves the slot of ${key}`);
  };
  const close = async () => {
    await Promise.all(children.map((c) => new Promise<void>((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) return resolve();
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    })));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const port of ports) await waitFor(async () => (await cli(port, 'ping')).trim() === 'PONG', `redis-server on ${port}`);
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
    for (const port of ports) {
      await waitFor(async () => /cluster_state:ok/.test(await cli(port, 'cluster', 'info')) && /cluster_slots_ok:16384/.test(await cli(port, 'cluster', 'info')), `cluster state ok on ${port}`);
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { nodes: ports.map((p) => `127.0.0.1:${p}`), ports, close, ownerOf, killNode, startNode };
}
