// Resources.close() is the last thing every command does before process.exit: it must end whatever state Redis is
// in. With Redis down, QUIT queued behind the commands waiting for a reconnect and never answered, so `skytide run`
// never exited after SIGTERM.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../adapters/config/parse.ts';
import { createResources } from '../../../long-runners/cli/resources.ts';
import { TEST_REDIS_URL } from '../../helpers/services.ts';

const DOWN = 'redis://127.0.0.1:1';

function resources(redisUrl: string) {
  return createResources(parseConfig({ REDIS_URL: redisUrl, LOG_LEVEL: 'error' }).config, 'close-test');
}

/** 'closed', or 'still closing' if close() has not returned within `ms`. */
async function closeWithin(r: ReturnType<typeof resources>, ms: number): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const out = await Promise.race([r.close().then(() => 'closed'), new Promise<string>((resolve) => (timer = setTimeout(() => resolve('still closing'), ms)))]);
  clearTimeout(timer);
  return out;
}

describe('Resources.close()', () => {
  it('returns with Redis down and a command waiting for the reconnect', async () => {
    const r = resources(DOWN);
    // Never settles: ioredis drops a reconnecting client's socket without failing its queue (the process exits next).
    void r.redis().xlen('close-test:x').catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await closeWithin(r, 8000)).toBe('closed');
  }, 15_000);

  it('returns with Redis down and nothing waiting', async () => {
    const r = resources(DOWN);
    r.redis();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await closeWithin(r, 8000)).toBe('closed');
  }, 15_000);

  it('quits cleanly when Redis answers', async () => {
    const r = resources(TEST_REDIS_URL);
    expect(await r.redis().ping()).toBe('PONG');
    expect(await closeWithin(r, 8000)).toBe('closed');
    await expect(r.redis().ping()).rejects.toThrow('Connection is closed');
  }, 15_000);
});
