// A small test-side subscribeLabels reader that stands in for the label subscriber until it runs on the shared
// subscription runner (issue 9): one WebSocket to `host`, from the stored cursor `label_live:cursor:<host>` or 0, each
// frame through the product's pure decoder (functions/atproto/label-frame.ts), each #labels frame's entries XADDed
// to label_live with the cursor in the same MULTI, a seq not above the cursor dropped. No batching, backoff or
// backpressure: that is the runner's. It remembers every entry it wrote, so a test can replay them.
import WebSocket from 'ws';
import type { Redis } from 'ioredis';
import { decodeLabelFrame, type LabelFrameOutcome } from '../../functions/atproto/label-frame.ts';
import { hostKey, STREAMS, type KeySpace } from '../../adapters/redis/keys.ts';
import { appendBatch } from '../../adapters/redis/stream-writer.ts';
import { readSeqCursor } from '../../adapters/redis/cursor-store.ts';
import { subscribeUrl } from '../../long-runners/subscription/subscribe-url.ts';

export interface LabelReader {
  /** Outcomes by kind (and `seq_not_increasing` for dropped lower seqs). */
  counts: Map<string, number>;
  /** Every `event` field value written, in order. */
  written: string[];
  /** The last seq written (the cursor). */
  cursor(): Promise<number | undefined>;
  close(): Promise<void>;
}

export async function startLabelReader(options: { redis: Redis; keys: KeySpace; host: string }): Promise<LabelReader> {
  const { redis, keys, host } = options;
  const cursorKey = keys.cursor(STREAMS.labelLive, host);
  const stream = keys.stream(STREAMS.labelLive);
  const start = (await readSeqCursor(redis, cursorKey)) ?? 0;
  const counts = new Map<string, number>();
  const written: string[] = [];
  const bump = (k: string) => counts.set(k, (counts.get(k) ?? 0) + 1);
  let last = start;
  // Frames are written one at a time, in order: each MULTI finishes before the next frame is looked at.
  let chain = Promise.resolve();
  const ws = new WebSocket(subscribeUrl(host, 'com.atproto.label.subscribeLabels', start), { perMessageDeflate: false });
  ws.on('message', (data: Buffer, isBinary) => {
    if (!isBinary) return;
    const outcome: LabelFrameOutcome = decodeLabelFrame(new Uint8Array(data), hostKey(host));
    chain = chain.then(async () => {
      if (outcome.kind !== 'labels') return void bump(outcome.kind);
      if (outcome.seq <= last) return void bump('seq_not_increasing');
      bump('labels');
      const fields = outcome.entries.map((e) => JSON.stringify(e));
      await appendBatch(redis, { entries: fields.map((event) => ({ stream, fields: { event } })), cursor: { key: cursorKey, value: String(outcome.seq) } });
      written.push(...fields);
      last = outcome.seq;
    });
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return {
    counts,
    written,
    cursor: () => readSeqCursor(redis, cursorKey),
    close: async () => {
      ws.close();
      await chain;
    },
  };
}
