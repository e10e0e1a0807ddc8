// What the label subscriber logs when a labeler says `#info OutdatedCursor` (its window no longer reaches our cursor):
// the subscription core is shared with the firehose adapter, whose missed events a sweep repairs; nothing lists a
// labeler's labels again, so the line must not promise a repair for labels.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeySpace } from '../../../adapters/redis/keys.ts';
import { noMetrics, silentLog, type Log, type LogFields, type Metrics } from '../../../functions/ports.ts';
import { runLabelSubscriber } from '../../../long-runners/labels/label-subscriber.ts';
import { startHostileLabeler, type HostileLabeler } from '../../../long-runners/dev/hostile-labeler.ts';
import { labelsFrame, messageFrame } from '../../helpers/labels.ts';
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

describe('the label subscriber resumed past its cursor', () => {
  it('counts no cursor_gap and warns of nothing: Ozone re-applies a label under a new id, leaving holes in its seqs', async () => {
    // Stored cursor 5; labels 6 and 7 were applied again since (now 8 and 9), so the labeler's first seq above 5 is 8.
    // Counted as cursor_gap, an alert fired at every restart of a subscription to any Ozone.
    const warnings: string[] = [];
    const log: Log = { ...silentLog, warn: (msg) => void warnings.push(msg), child: () => log };
    const errors: string[] = [];
    const metrics: Metrics = { inc: (name, labels) => void (name === 'skytide_label_subscription_errors_total' && errors.push(labels?.['reason'] ?? '')) };
    const holed = await startHostileLabeler();
    const keys = createKeySpace(redis.prefix);
    await redis.redis.set(keys.cursor('label_live', holed.host), '5');
    const controller = new AbortController();
    const running = runLabelSubscriber({
      redis: redis.redis, keys, host: holed.host, highWaterMark: 1000, batchSize: 10,
      batchTimeoutMs: 20, initialCursor: 0, log, metrics, signal: controller.signal,
    });
    try {
      holed.append(labelsFrame(8, []));
      holed.append(labelsFrame(9, []));
      await waitFor(() => redis.redis.get(keys.cursor('label_live', holed.host)), (c) => c === '9', 'cursor 9');
      expect(errors).toEqual([]);
      expect(warnings.filter((w) => w.startsWith('upstream resumed past our cursor'))).toEqual([]);
    } finally {
      controller.abort();
      await running;
      await holed.close();
    }
  });
});
