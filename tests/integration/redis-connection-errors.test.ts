// A Redis that goes away is logged as JSON lines, sampled, with its end, by every client skytide makes (duplicates
// included): without a listener ioredis prints `[ioredis] Unhandled error event` to stderr on every reconnect attempt,
// which the chaos suite found in every process's log during its Redis restarts.
import { describe, expect, it } from 'vitest';
import { createRedis } from '../../adapters/redis/client.ts';
import { createLogger } from '../../adapters/observability/logger.ts';
import { startPrivateRedis } from '../helpers/private-services.ts';
import { waitFor } from '../helpers/wait.ts';

describe('redis client: connection errors', () => {
  it('are logged as sampled JSON warnings and their end as one line, on the client and its duplicates', async () => {
    const server = await startPrivateRedis();
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({ level: 'info', component: 'test', write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) });
    const client = createRedis({ url: server.url, log });
    const reader = client.duplicate();
    try {
      expect(client.listenerCount('error')).toBe(1);
      expect(reader.listenerCount('error')).toBe(1);
      await Promise.all([client.ping(), reader.ping()]);
      await server.stop('kill');
      await waitFor(() => lines.filter((l) => l['msg'] === 'redis connection error').length, (n) => n >= 2, 'an error line from each client', 20_000);
      await server.start();
      await waitFor(() => lines.filter((l) => l['msg'] === 'redis connection restored').length, (n) => n >= 2, 'both clients back', 20_000);
      expect(await client.ping()).toBe('PONG');
      const errors = lines.filter((l) => l['msg'] === 'redis connection error');
      // Sampled: only the 1st, 10th, 100th... of an outage.
      expect(errors.every((l) => [1, 10, 100, 1000].includes(l['occurrences'] as number))).toBe(true);
      expect(errors[0]).toMatchObject({ level: 'warn', component: 'test', err: expect.stringContaining('ECONNREFUSED') });
    } finally {
      client.disconnect();
      reader.disconnect();
      await server.close();
    }
  }, 60_000);
});
