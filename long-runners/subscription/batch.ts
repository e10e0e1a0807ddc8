// The batch a subscription builds between two writes: stream entries and other commands in frame order, and the
// seq the cursor rises to once they are written. One flush is one atomic write (adapters/redis/stream-writer.ts), so
// what a batch holds lands with its cursor or not at all, and once even when ioredis sends it again after a reconnect
// that lost its reply. A flush without a seq (the handler's writes between batches) lands at least once, unless it
// holds an op that must not run twice (a release of parked frames, `onceMarker`): then it lands once too. Either way a
// key of the wrong type refuses it whole, nothing written.
// A flush that throws leaves the batch as it was, to be flushed again (the subscription waits out a Redis that refuses
// writes), and the resend is the same batch to Redis: the same once-token, and split by slot, only the parts that did
// not land. A new token on each try let a slot's part that landed run again: its entries written twice, a release of
// parked frames trimming frames never written. Staging more after a failed flush starts afresh (at least once).
import type { Redis } from 'ioredis';
import { newSlotProgress, writeBatch, writeSlotBatches, type BatchOp, type NewStreamEntry, type SlotProgress } from '../../adapters/redis/stream-writer.ts';

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
  flush(redis: Redis, cursorKey: string | readonly string[], split?: boolean, guards?: readonly BatchOp[]): Promise<number | undefined>;
  /** Drops everything staged, unwritten (a batch its guards refused: it belongs to no writer now). */
  discard(): void;
}

export function createBatch(): PendingBatch {
  let ops: BatchOp[] = [];
  let written: (() => void)[] = [];
  let size = 0;
  let seq: number | undefined;
  /** The token and landed parts of this batch's tries so far; anew once it is flushed, or changed after a try. */
  let progress: SlotProgress = newSlotProgress();
  let tried = false;
  const changed = () => {
    if (!tried) return;
    progress = newSlotProgress();
    tried = false;
  };
  const batch: PendingBatch = {
    get seq() {
      return seq;
    },
    set seq(value) {
      if (value !== seq) changed();
      seq = value;
    },
    get size() {
      return size;
    },
    get empty() {
      return ops.length === 0 && seq === undefined;
    },
    append(entry, onWritten) {
      changed();
      ops.push({ kind: 'entry', entry });
      size++;
      if (onWritten !== undefined) written.push(onWritten);
    },
    add(op, entries = 0) {
      changed();
      ops.push(op);
      size += entries;
    },
    async flush(redis, cursorKey, split = false, guards = []) {
      if (batch.empty) return undefined;
      let stored: number | undefined;
      tried = true;
      // Guards go first: the batch script stops at one that refuses before anything is written (GUARD_CODES); split
      // by slot, each guards the part in its own slot.
      const all = guards.length === 0 ? ops : [...guards, ...ops];
      if (!split) {
        const key = typeof cursorKey === 'string' ? cursorKey : cursorKey[0];
        if (key === undefined) throw new Error('a batch needs a cursor key');
        stored = (await writeBatch(redis, { ops: all, token: progress.token, ...(seq === undefined ? {} : { seqCursor: { key, seq } }) })).seqCursor;
      } else {
        const keys = typeof cursorKey === 'string' ? [cursorKey] : cursorKey;
        const cursors = await writeSlotBatches(redis, { ops: all, progress, ...(seq === undefined ? {} : { seqCursors: { keys, seq } }) });
        stored = cursors.size === 0 ? undefined : Math.min(...cursors.values());
      }
      const after = written;
      batch.discard();
      for (const f of after) f();
      return stored;
    },
    discard() {
      ops = [];
      written = [];
      size = 0;
      seq = undefined;
      progress = newSlotProgress();
      tried = false;
    },
  };
  return batch;
}
