// `skytide sweep` signalled while Redis is unreachable: a real process, pointed at a port on 127.0.0.1 nothing listens
// on (the real Postgres and a listRepos server on 127.0.0.1 otherwise). Its Redis commands wait inside the client for
// as long as Redis is away (an outage is waited out), so the sweep never saw the signal and the process hung until
// SIGKILL (review: cli-sigterm-redis-down.ts). It must exit 143 (SIGTERM) or 130 (SIGINT) after its stop deadline,
// saying what was pending, with each host not done on the JSON line; a second signal exits at once.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../helpers/free-port.ts';
import { useSweepSetup } from '../../helpers/fake-list-repos.ts';
import { waitFor } from '../../helpers/wait.ts';

const CLI = new URL('../../../long-runners/cli/main.ts', import.meta.url).pathname;
const s = useSweepSetup('sweep_cli_redis_down', { dids: ['did:plc:redisdownaaaaaaaaaaaaaaa'] });

/** `skytide sweep` with Redis at a port nothing listens on, once it has said Redis refuses it. */
async function sweepWithoutRedis() {
  const child = spawn(process.execPath, [CLI, 'sweep'], {
    env: { PATH: process.env['PATH'] ?? '', REDIS_URL: `redis://127.0.0.1:${await freePort()}/0`, DATABASE_URL: s.db.url, INGESTER_RELAY_HOSTS: s.host },
  });
  let stdout = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', () => {});
  const exited = new Promise<number | string | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  // A safety bound, not a measure: the process that hung never exits on its own.
  const exit = () => Promise.race([exited, new Promise<string>((resolve) => setTimeout(() => resolve('still running'), 40_000).unref())]);
  await waitFor(() => stdout, (out) => out.includes('redis connection error'), 'the sweep to find Redis unreachable');
  const lines = () => stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { child, exit, lines, kill: () => child.kill('SIGKILL') };
}

describe('`skytide sweep` signalled while Redis is unreachable', () => {
  it.each([['SIGTERM', 143], ['SIGINT', 130]] as const)('by %s exits %i after its stop deadline, saying what was pending', async (signal, code) => {
    const p = await sweepWithoutRedis();
    try {
      p.child.kill(signal);
      expect(await p.exit()).toBe(code);
      expect(p.lines()).toContainEqual(expect.objectContaining({ level: 'error', msg: expect.stringContaining('sweep did not stop'), pending: expect.any(String), waiting: expect.stringContaining('redis') }));
      expect(p.lines().filter((l) => 'hosts' in l)).toEqual([{ done: false, stoppedBy: signal, hosts: [{ host: s.host, done: false }] }]);
    } finally {
      p.kill();
    }
  }, 60_000);

  it('exits at once on a second signal', async () => {
    const p = await sweepWithoutRedis();
    try {
      p.child.kill('SIGTERM');
      p.child.kill('SIGINT');
      // The two may be delivered in either order: the code is the later one's.
      expect([130, 143]).toContain(await p.exit());
      expect(p.lines()).toContainEqual(expect.objectContaining({ msg: expect.stringContaining('second signal') }));
    } finally {
      p.kill();
    }
  }, 60_000);
});
