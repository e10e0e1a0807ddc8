// Kill -9 the real `skytide run --only labels` process mid-stream, start it again, and check that label_live holds
// every label exactly once, in order, and that the restart resumed from the stored cursor: the label subscriber
// writes a frame's labels and its seq in one MULTI (the subscription core it shares with the firehose adapter), so a
// kill can neither lose a label behind the cursor nor write one twice.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createTestRedis, TEST_REDIS_URL } from '../helpers/services.ts';
import { startFakeRelay, type FakeRelay } from '../../long-runners/dev/fake-relay.ts';
import { labelsFrame, type LabelFields } from '../helpers/labels.ts';
import { waitFor } from '../helpers/wait.ts';
import { createKeySpace, hostKey, STREAMS } from '../../adapters/redis/keys.ts';
import { parseLabelFields } from '../../functions/label/entry.ts';
import { readSeqCursor } from '../../adapters/redis/cursor-store.ts';

const CLI = new URL('../../long-runners/cli/main.ts', import.meta.url).pathname;
const FRAMES = 2000;
/** Labels per frame: a kill between two of one frame's labels must not split the frame. */
const PER_FRAME = 3;
const SRC = 'did:plc:labelerlabelerlabelerlab';

let redis: Redis;
let prefix: string;
let cleanup: () => Promise<void>;
let labeler: FakeRelay;

beforeAll(async () => {
  ({ redis, prefix, cleanup } = await createTestRedis('label_sigkill'));
  labeler = await startFakeRelay('com.atproto.label.subscribeLabels');
});
afterAll(async () => {
  await labeler.close();
  await cleanup();
});

function startSubscriber(): ChildProcess {
  return spawn(process.execPath, [CLI, 'run', '--only', 'labels'], {
    env: {
      PATH: process.env['PATH'] ?? '', REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: prefix, INGESTER_LABELER_HOSTS: labeler.host,
      LABELER_INITIAL_CURSOR: '0', INGESTER_BATCH_SIZE: '25', INGESTER_BATCH_TIMEOUT_MS: '20', LOG_LEVEL: 'error',
      HTTP_PORT: '0',
    },
    stdio: 'ignore',
  });
}

const label = (seq: number, k: number): LabelFields => ({
  ver: 1, src: SRC, uri: `at://did:plc:subjectsubjectsubjectsub/app.bsky.feed.post/${seq}`, val: `l${seq}-${k}`, cts: '2026-01-01T00:00:00.000Z',
});

describe('chaos: SIGKILL the label subscriber mid-stream', () => {
  it('loses no label and duplicates none across the kill and restart', async () => {
    const keys = createKeySpace(prefix);
    const cursor = async () => (await readSeqCursor(redis, keys.cursor(STREAMS.labelLive, labeler.host))) ?? 0;
    const frames = Array.from({ length: FRAMES }, (_, i) => labelsFrame(i + 1, Array.from({ length: PER_FRAME }, (_, k) => label(i + 1, k))));
    // The labeler keeps labelling while the subscriber runs, is killed and comes back: it starts once the first run
    // has connected (a slow start on a busy machine cannot let the whole stream through before the kill).
    const first = startSubscriber();
    await waitFor(async () => labeler.cursors.length, (n) => n > 0, 'the first run to connect', 30_000);
    let next = 0;
    const producer = setInterval(() => {
      for (let i = 0; i < 20 && next < FRAMES; i++, next++) labeler.append(next + 1, frames[next]!);
      if (next >= FRAMES) clearInterval(producer);
    }, 20);

    await waitFor(cursor, (c) => c >= 400, 'first run past seq 400', 30_000);
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    const killedAt = await cursor();
    expect(killedAt).toBeLessThan(FRAMES);

    const second = startSubscriber();
    await waitFor(cursor, (c) => c === FRAMES, `cursor ${FRAMES}`, 60_000);
    second.kill('SIGTERM');
    const code = await new Promise((r) => second.once('exit', r));
    expect(code).toBe(0);
    // The restart asked the labeler for what came after the stored cursor, not for its whole history again.
    expect(labeler.cursors.slice(-1)[0]).toBe(String(killedAt));

    // Read as the label consumer reads them (its edge parser): one label an entry, naming the labeler's host.
    const vals = (await redis.xrange(keys.stream(STREAMS.labelLive), '-', '+')).map(([, flat]) => {
      const fields = Object.fromEntries(Array.from({ length: flat.length / 2 }, (_, i) => [flat[2 * i], flat[2 * i + 1]]));
      const entry = parseLabelFields(fields);
      if (!entry.ok) throw new Error(`label_live entry: ${entry.message}`);
      expect(entry.value).toMatchObject({ form: 'event', host: hostKey(labeler.host) });
      expect(entry.value.labels).toHaveLength(1);
      return (entry.value.labels[0] as { val: string }).val;
    });
    expect(vals).toHaveLength(FRAMES * PER_FRAME);
    expect(vals).toEqual(Array.from({ length: FRAMES * PER_FRAME }, (_, i) => `l${Math.floor(i / PER_FRAME) + 1}-${i % PER_FRAME}`));
  }, 120_000);
});
