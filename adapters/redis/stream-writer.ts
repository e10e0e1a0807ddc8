// Writes a batch of stream entries and, in the SAME atomic step, the cursor that says they are written. Either all of
// it lands or none does, so a crash can neither lose an event behind an advanced cursor nor write one twice. Every
// reply is checked: a command Redis refuses is reported in its own reply, not thrown.
// A seq cursor is raised by a compare-and-set script (RAISE_SEQ_CURSOR), never SET blind, so it cannot go back. Other
// writes that must land with the entries (per-repo state, parked frames) ride in the same step as `ops`; a write
// that depends on stored state is a script whose reply comes back to its `onReply`.
// A batch with a seq cursor is one script that writes nothing when the same batch ran already (its token stands
// beside the cursor, once-batch-script.ts): a batch whose reply was lost and which ioredis sends again after
// reconnecting (autoResendUnfulfilledCommands, on by default), or a Cluster client retries, or its caller sends again
// after an error with the same token (BatchWrite.token, SlotBatchWrite.progress), lands exactly once. So
// does a batch without one that holds an op which must not run twice (`onceMarker`: a release of parked frames,
// whose LTRIM run twice would drop frames never released), guarded by the op's marker. Any other batch (a listRepos
// cursor, plain entries, a parked frame with its wait record) is the same script without a marker and lands at least
// once: should its reply be lost it may run twice, which its writers accept (adapters/README.md).
// A key of another type than a step needs refuses the batch whole, nothing written (StreamWriteError naming the step
// and key), with or without a marker: found mid-run (a MULTI runs its other commands when one meets a key of the wrong
// type), the steps around it would have been written, a cursor raised or SET past it.
import type { Redis } from 'ioredis';
import { SkytideError } from '../../functions/errors.ts';
import { randomBytes } from 'node:crypto';
import { RAISE_SEQ_CURSOR, readSeqCursor } from './cursor-store.ts';
import type { RedisArg, RedisScript } from './scripts.ts';
import { runBatch, runOnceBatch, type OnceBatchStep } from './once-batch-script.ts';
import { hashTag, lastBatchKey } from './keys.ts';
import { typeRefusal } from './lua/key-types.ts';

/** An entry to add to a stream (no id yet; what consumers read back is consumer-group.ts's StreamEntry). */
export interface NewStreamEntry {
  /** Full key (already prefixed). */
  stream: string;
  fields: Record<string, string>;
}

/** One command of a batch, in order with the entries. */
export type BatchOp =
  | { kind: 'entry'; entry: NewStreamEntry }
  | { kind: 'command'; name: string; args: readonly RedisArg[] }
  | {
    kind: 'script';
    script: RedisScript;
    keys: readonly string[];
    args: readonly RedisArg[];
    onReply?: (reply: unknown) => void;
    /**
     * A script that must not run twice: a batch holding it, even without a seq cursor, is one once-batch script
     * guarded by this marker key (in the slot of the op's keys; one writer at a time per marker).
     */
    onceMarker?: string;
  };

export interface BatchWrite {
  /** XADDs, before any `ops`. */
  entries?: readonly NewStreamEntry[];
  /** Further commands, in order, after `entries`. */
  ops?: readonly BatchOp[];
  /** A string cursor (a listRepos cursor), SET as given. */
  cursor?: { key: string; value: string };
  /** A seq cursor, raised to `seq` unless it already stands higher. */
  seqCursor?: { key: string; seq: number };
  /**
   * The batch's once-token (newBatchToken), for a batch with a seq cursor or a once-marker. A batch sent again after a
   * failed write passes the token of its first try: had that try landed after all (its reply lost, or its slot's part
   * of a split batch written before another part was refused), the resend answers ranBefore instead of running again.
   * Absent: a new one, for a batch sent once.
   */
  token?: string;
}

export interface BatchResult {
  /** Stream ids of `entries` and of the `entry` ops, in order. */
  ids: string[];
  /** With `seqCursor`: the seq stored after the write, ours or a higher one another writer put there. */
  seqCursor?: number;
  /**
   * With `seqCursor` or an op's `onceMarker`: this batch had run already and only its reply was lost (ioredis sent it
   * again after a reconnect), so this run wrote nothing. `ids` is empty and no `onReply` runs: those replies were
   * lost with the run that wrote; `seqCursor` is read afterwards.
   */
  ranBefore?: true;
}

/**
 * Redis refused a batch (a key of the wrong type: nothing written) or a step of one (its reply an error: what the
 * other steps did stands). Either way the writer must stop rather than carry on past it.
 */
export class StreamWriteError extends SkytideError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('stream_write_failed', message, {}, options);
    this.name = 'StreamWriteError';
  }
}

/**
 * Throws when a script answered that a key it needs has another type (lua/key-types.ts: it wrote nothing), naming
 * `what` was refused; any other reply passes.
 */
export function refuseWrongType(what: string, reply: unknown): void {
  const refusal = typeRefusal(reply);
  if (refusal !== undefined) throw new StreamWriteError(`${what}: ${refusal}`);
}

/** A fresh once-token: one per batch, kept by the batch across its resends (BatchWrite.token). */
export function newBatchToken(): string {
  return randomBytes(12).toString('base64url');
}

export async function writeBatch(redis: Redis, batch: BatchWrite): Promise<BatchResult> {
  const entries = batch.entries ?? [];
  const ops = batch.ops ?? [];
  if (entries.length === 0 && ops.length === 0 && batch.cursor === undefined && batch.seqCursor === undefined) return { ids: [] };
  // What each step writes, and what its reply is for: an entry id, a script's verdict, the cursor's new value, or nothing.
  const steps: OnceBatchStep[] = [];
  const roles: ({ kind: 'id' } | { kind: 'reply'; onReply: (reply: unknown) => void } | { kind: 'cursor' } | { kind: 'none' })[] = [];
  const xadd = (entry: NewStreamEntry) => {
    // NOTE: never MAXLEN: trimming could delete entries no consumer has processed yet.
    steps.push({ kind: 'xadd', stream: entry.stream, fields: Object.entries(entry.fields).flat() });
    roles.push({ kind: 'id' });
  };
  for (const entry of entries) xadd(entry);
  for (const op of ops) {
    if (op.kind === 'entry') xadd(op.entry);
    else if (op.kind === 'command') {
      steps.push({ kind: 'command', name: op.name, args: op.args });
      roles.push({ kind: 'none' });
    } else {
      steps.push({ kind: 'script', script: op.script, keys: op.keys, args: op.args });
      roles.push(op.onReply === undefined ? { kind: 'none' } : { kind: 'reply', onReply: op.onReply });
    }
  }
  if (batch.cursor !== undefined) {
    steps.push({ kind: 'command', name: 'SET', args: [batch.cursor.key, batch.cursor.value] });
    roles.push({ kind: 'none' });
  }
  if (batch.seqCursor !== undefined) {
    steps.push({ kind: 'script', script: RAISE_SEQ_CURSOR, keys: [batch.seqCursor.key], args: [String(batch.seqCursor.seq)] });
    roles.push({ kind: 'cursor' });
  }
  // Exactly once: should this batch be sent again after its reply was lost, the second run writes nothing.
  const marker = batch.seqCursor !== undefined ? lastBatchKey(batch.seqCursor.key) : onceMarkerOf(ops);
  let replies: unknown[];
  if (marker !== undefined) {
    const ran = await runOnceBatch(redis, marker, batch.token ?? newBatchToken(), steps).catch(refusedWhole);
    if (ran.ranBefore) {
      if (batch.seqCursor === undefined) return { ids: [], ranBefore: true };
      const stored = await readSeqCursor(redis, batch.seqCursor.key);
      return { ids: [], ...(stored === undefined ? {} : { seqCursor: stored }), ranBefore: true };
    }
    replies = ran.replies;
  } else {
    replies = await runBatch(redis, steps).catch(refusedWhole);
  }
  const result: BatchResult = { ids: [] };
  replies.forEach((reply, i) => {
    if (reply instanceof Error) throw new StreamWriteError(`command ${i} of the batch failed`, { cause: reply });
    const role = roles[i];
    if (role?.kind === 'id') result.ids.push(String(reply));
    else if (role?.kind === 'cursor') result.seqCursor = Number(reply);
    else if (role?.kind === 'reply') role.onReply(reply);
  });
  return result;
}

/** A key of the wrong type: the script refused the batch whole, before writing anything (once-batch-script.ts). */
function refusedWhole(err: unknown): never {
  if (err instanceof Error && err.message.startsWith('WRONGTYPE')) throw new StreamWriteError(`batch refused: ${err.message}`, { cause: err });
  throw err;
}

/** The marker of the first op that must not run twice, if any. */
function onceMarkerOf(ops: readonly BatchOp[]): string | undefined {
  for (const op of ops) if (op.kind === 'script' && op.onceMarker !== undefined) return op.onceMarker;
  return undefined;
}

/** Entries (and a string cursor) in one batch, at least once; answers their stream ids. */
export async function appendBatch(redis: Redis, batch: { entries: readonly NewStreamEntry[]; cursor?: { key: string; value: string } }): Promise<string[]> {
  return (await writeBatch(redis, batch)).ids;
}

/** The key an op writes first: its slot is the op's slot (every key of one op shares it, keys.ts sees to that). */
function firstKey(op: BatchOp): string {
  if (op.kind === 'entry') return op.entry.stream;
  if (op.kind === 'command') return String(op.args[0]);
  return op.keys[0] ?? '';
}

export interface SlotBatchWrite {
  ops: readonly BatchOp[];
  /** Seq cursors raised to `seq` (each shard's cursor for one host): each lands in the batch of its slot. */
  seqCursors?: { keys: readonly string[]; seq: number };
  /**
   * What earlier tries of this same batch did, kept by its caller across resends (newSlotProgress): the once-token
   * every slot's part is sent with, and the parts that landed (by hash tag, with their stored cursor). A resend after
   * one part was refused sends only the parts not landed; a part whose reply was lost runs with the same token and
   * answers ranBefore. Absent: the batch is sent once.
   */
  progress?: SlotProgress;
}

export interface SlotProgress {
  readonly token: string;
  /** Hash tag of each slot part written, and its seq cursor's stored value (undefined: none). */
  readonly landed: Map<string, number | undefined>;
}

export function newSlotProgress(): SlotProgress {
  return { token: newBatchToken(), landed: new Map() };
}

/**
 * A batch whose ops span hash slots (STREAM_SHARDS > 1, or a Redis Cluster): one batch per hash tag, each with the
 * ops of that tag in order and the cursor of that tag, written side by side. Each slot's part is atomic with its own
 * cursor; a crash between two parts leaves some shards' cursors ahead, and on resume each shard skips what is at or
 * below its own cursor, so nothing is lost or written twice. Every cursor is raised, even where the batch wrote
 * nothing, so the lowest one (where the reader resumes) keeps moving. Answers each cursor's stored value afterwards.
 * Parts are independent: when Redis refuses one (out of memory, one Cluster node failing over) others may have
 * landed, so every part is waited for before the first error is thrown, and a caller that sends the batch again
 * passes the same `progress`, or the parts that landed run twice (entries twice; a release of parked frames trimming
 * frames never written).
 */
export async function writeSlotBatches(redis: Redis, batch: SlotBatchWrite): Promise<Map<string, number>> {
  const groups = new Map<string, { ops: BatchOp[]; cursor?: string }>();
  const group = (tag: string) => {
    let g = groups.get(tag);
    if (g === undefined) groups.set(tag, (g = { ops: [] }));
    return g;
  };
  for (const op of batch.ops) group(hashTag(firstKey(op))).ops.push(op);
  for (const key of batch.seqCursors?.keys ?? []) group(hashTag(key)).cursor = key;
  const progress = batch.progress ?? newSlotProgress();
  const seq = batch.seqCursors?.seq;
  const settled = await Promise.allSettled([...groups].filter(([tag]) => !progress.landed.has(tag)).map(async ([tag, g]) => {
    const result = await writeBatch(redis, {
      ops: g.ops, token: progress.token, ...(g.cursor === undefined || seq === undefined ? {} : { seqCursor: { key: g.cursor, seq } }),
    });
    progress.landed.set(tag, g.cursor === undefined ? undefined : result.seqCursor);
  }));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  const stored = new Map<string, number>();
  for (const [tag, g] of groups) {
    const value = progress.landed.get(tag);
    if (g.cursor !== undefined && value !== undefined) stored.set(g.cursor, value);
  }
  return stored;
}
