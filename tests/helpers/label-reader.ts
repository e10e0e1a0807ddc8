// The real label subscriber (long-runners/labels/label-subscriber.ts, on the subscription core) run inside a test:
// it follows `host` from the stored cursor `label_live:cursor:<host>` or 0, and the helper keeps what a test wants to
// look at: the frames by kind (from the subscriber's own counters) and every `event` it wrote, in order, to replay.
import type { Redis } from 'ioredis';
import { readSeqCursor } from '../../adapters/redis/cursor-store.ts';
import { hostKey, STREAMS, type KeySpace } from '../../adapters/redis/keys.ts';
import { silentLog, type Metrics } from '../../functions/ports.ts';
import { runLabelSubscriber } from '../../long-runners/labels/label-subscriber.ts';

export interface LabelReader {
  /** Frames by kind (`labels` for #labels, `invalid`, `info`, `ignored`, ...) and `seq_not_increasing` drops. */
  counts: Map<string, number>;
  /** Every `event` field value written, in order. */
  written: string[];
  /** The last seq written (the cursor). */
  cursor(): Promise<number | undefined>;
  close(): Promise<void>;
}

export async function startLabelReader(options: { redis: Redis; keys: KeySpace; host: string }): Promise<LabelReader> {
  const { redis, keys, host } = options;
  const counts = new Map<string, number>();
  const written: string[] = [];
  const bump = (k: string, n: number) => counts.set(k, (counts.get(k) ?? 0) + n);
  const metrics: Metrics = {
    inc(name, labels = {}, value = 1) {
      if (value === 0) return;
      if (name === 'skytide_label_frames_total') bump(labels['kind'] === 'sequenced' ? 'labels' : (labels['kind'] ?? 'unknown'), value);
      if (name === 'skytide_label_subscription_errors_total' && labels['reason'] === 'seq_not_increasing') bump('seq_not_increasing', value);
    },
  };
  const controller = new AbortController();
  const running = runLabelSubscriber({
    redis, keys, host, highWaterMark: 1_000_000, batchSize: 100, batchTimeoutMs: 20, initialCursor: 0,
    log: silentLog, metrics, signal: controller.signal, lengthCheckIntervalMs: 50,
    backoff: { baseMs: 50, maxMs: 500, healthyAfterMs: 5000 },
    onWritten: (event) => written.push(event),
  });
  running.catch(() => {});
  return {
    counts,
    written,
    cursor: () => readSeqCursor(redis, keys.cursor(STREAMS.labelLive, hostKey(host))),
    close: async () => {
      controller.abort();
      await running;
    },
  };
}
