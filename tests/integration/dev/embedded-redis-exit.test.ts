// The embedded redis-server of `skytide dev` (long-runners/dev/embedded-redis.ts) does not outlive its process: a second
// signal, or any process.exit, skips the orderly close, and the server was left running on its port.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { answersPing } from '../../../long-runners/dev/embedded-redis.ts';

const MODULE = path.join(import.meta.dirname, '../../../long-runners/dev/embedded-redis.ts');

describe('skytide dev: the embedded redis-server', () => {
  // The poll below once hung (the CI's 30 s test timeout): a connection made as the server shut down was closed
  // without a reply, and the probe waited for data or an error that never came.
  it('takes a connection closed without a reply, or a silent one, for no answer', async () => {
    const closing = net.createServer((socket) => socket.end());
    const silent = net.createServer(() => {});
    const ports = await Promise.all([closing, silent].map((server) => new Promise<number>((resolve) => {
      server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
    })));
    try {
      expect(await answersPing(ports[0]!)).toBe(false);
      expect(await answersPing(ports[1]!, 200)).toBe(false);
    } finally {
      for (const server of [closing, silent]) {
        server.close();
        (server as net.Server & { closeAllConnections?: () => void }).closeAllConnections?.();
      }
    }
  });

  it('is stopped when its process exits without closing it (a second signal exits at once)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'skytide-embedded-redis-'));
    try {
      // A process that starts the server, says its port, then exits as a second signal makes it: process.exit, no close.
      const script = `import { startEmbeddedRedis } from ${JSON.stringify(MODULE)};
        const r = await startEmbeddedRedis(${JSON.stringify(dir)});
        console.log(new URL(r.url).port + ' ' + r.kind);
        process.exit(130);`;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect(code).toBe(130);
      const [port, kind] = out.trim().split(' ');
      // redis-server from PATH (as .ci/run installs it); without one, the in-process Redis, which dies with its process.
      expect(['redis-server', 'in-process']).toContain(kind);
      let up = true;
      for (let i = 0; i < 50 && up; i++) {
        up = await answersPing(Number(port));
        if (up) await new Promise((r) => setTimeout(r, 100));
      }
      expect(up).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
