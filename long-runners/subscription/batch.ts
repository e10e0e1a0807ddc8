// The batch a subscription builds between two writes: stream entries and other commands in frame order, and the
// seq the cursor rises to once they are written. One flush is one atomic write (adapters/redis/stream-writer.ts), so
// what a batch holds lands with its cursor or not at all, and once even when ioredis sends it again after a reconnect
// that lost its reply. A flush without a seq (the handler's writes between batches) lands at least once, unless it
// holds an op that must not run twice (a release of parked frames, `onceMarker`): then it lands once too. Either way a
// key of the wrong type refuses it whole, nothing written.
import type { Redis } from 'ioredis';
import { writeBatch, writeSlotBatches, type BatchOp, type NewStreamEntry } from '../../adapters/redis/stream-writer.ts';

/** What a message handler may add to the batch. */
export interface Batch {
  /** An XADD; `onWritten` runs once the batch is written (count what landed, not what was staged). */
  append(entry: NewStreamEntry, onWritten?: () => void): void;
  /** Any other command or script, in order with the entries; `entries` is how many stream entries it may write. */
  add(op: BatchOp, entries?: number): void;
  /** Stream entries staged so far (the batch is written when it reaches the batch size). */
  readonly size: number;
}

export interface PendingBatch extends Batch {
  /** The seq the cursor rises to with this batch. */
  seq: number | undefined;
  readonly empty: boolean;
  /**
   * Writes everything staged and the cursor in one atomic step; answers the stored cursor afterwards (ours or higher).
   * With several cursor keys (one per shard) it writes one step per hash slot, each with its shard's cursor
   * (stream-writer.ts, writeSlotBatches), and answers the lowest stored cursor.
   */
  flush(redis: Redis, cursorKey: string | readonly string[], split?: boolean): Promise<number | undefined>;
}

export function createBatch(): PendingBatch {
  let ops: BatchOp[] = [];
  let written: (() => void)[] = [];
  let size = 0;
  const batch: PendingBatch = {
    seq: undefined,
    get size() {
      return size;
    },
    get empty() {
      return ops.length === 0 && batch.seq === undefined;
    },
    append(entry, onWritten) {
      ops.push({ kind: 'entry', entry });
      size++;
      if (onWritten !== undefined) written.push(onWritten);
    },
    add(op, entries = 0) {
      ops.push(op);
      size += entries;
    },
    async flush(redis, cursorKey, split = false) {
      if (batch.empty) return undefined;
      const seq = batch.seq;
      let stored: number | undefined;
      if (!split) {
        const key = typeof cursorKey === 'string' ? cursorKey : cursorKey[0];
        if (key === undefined) throw new Error('a batch needs a cursor key');
        stored = (await writeBatch(redis, { ops, ...(seq === undefined ? {} : { seqCursor: { key, seq } }) })).seqCursor;
      } else {
        const keys = typeof cursorKey === 'string' ? [cursorKey] : cursorKey;
        const cursors = await writeSlotBatches(redis, { ops, ...(seq === undefined ? {} : { seqCursors: { keys, seq } }) });
        stored = cursors.size === 0 ? undefined : Math.min(...cursors.values());
      }
      const after = written;
      ops = [];
      written = [];
      size = 0;
      batch.seq = undefined;
      for (const f of after) f();
      return stored;
    },
  };
  return batch;
}
