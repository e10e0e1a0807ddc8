// What the label subscriber logs when a labeler says `#info OutdatedCursor` (its window no longer reaches our cursor):
// the subscription core is shared with the firehose adapter, whose missed events a sweep repairs; nothing lists a
// labeler's labels again, so the line must not promise a repair for labels.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeySpace } from '../../../adapters/redis/keys.ts';
import { noMetrics, silentLog, type Log, type LogFields } from '../../../functions/ports.ts';
import { runLabelSubscriber } from '../../../long-runners/labels/label-subscriber.ts';
import { startHostileLabeler, type HostileLabeler } from '../../../long-runners/dev/hostile-labeler.ts';
import { messageFrame } from '../../helpers/labels.ts';
import { createTestRedis } from '../../helpers/services.ts';
import { waitFor } from '../../helpers/wait.ts';

let redis: Awaited<ReturnType<typeof createTestRedis>>;
let labeler: HostileLabeler;

beforeAll(async () => {
  redis = await createTestRedis('label_subscriber_log');
  labeler = await startHostileLabeler();
});
afterAll(async () => {
  await labeler?.close();
  await redis?.cleanup();
});

describe('the label subscriber on #info OutdatedCursor', () => {
  it('logs that labels were missed and that nothing reads them again, never a sweep of repos', async () => {
    const warnings: { msg: string; fields: LogFields | undefined }[] = [];
    const log: Log = { ...silentLog, warn: (msg, fields) => void warnings.push({ msg, fields }), child: () => log };
    const controller = new AbortController();
    const running = runLabelSubscriber({
      redis: redis.redis, keys: createKeySpace(redis.prefix), host: labeler.host, highWaterMark: 1000, batchSize: 10,
      batchTimeoutMs: 20, initialCursor: 0, log, metrics: noMetrics, signal: controller.signal,
    });
    try {
      labeler.append(messageFrame('#info', { name: 'OutdatedCursor', message: 'cursor too old' }));
      const line = await waitFor(() => warnings.find((w) => w.msg.startsWith('cursor older than upstream window')), (w) => w !== undefined, 'the OutdatedCursor line');
      const text = `${line!.msg} ${JSON.stringify(line!.fields)}`;
      expect(text).not.toMatch(/sweep|repos/);
      expect(line!.fields).toMatchObject({ host: labeler.host, message: 'cursor too old', repair: expect.stringMatching(/^none: .*labels/) });
    } finally {
      controller.abort();
      await running;
    }
  });
});
