// Writes a batch of stream entries and, in the SAME MULTI/EXEC, the cursor that says they are written. Either all of
// it lands or none does, so a crash can neither lose an event behind an advanced cursor nor write one twice. Every
// reply is checked: ioredis reports per-command errors inside EXEC's result instead of throwing.
// A seq cursor is raised by a compare-and-set script (RAISE_SEQ_CURSOR), never SET blind, so it cannot go back. Other
// writes that must land with the entries (per-repo state, parked frames) ride in the same MULTI as `ops`; a write
// that depends on stored state is a script whose reply comes back to its `onReply`.
import type { Redis } from 'ioredis';
import { SkytideError } from '../../functions/errors.ts';
import { RAISE_SEQ_CURSOR } from './cursor-store.ts';
import { defineScripts, queueScript, type RedisArg, type RedisScript } from './scripts.ts';
import { hashTag } from './keys.ts';

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
  | { kind: 'script'; script: RedisScript; keys: readonly string[]; args: readonly RedisArg[]; onReply?: (reply: unknown) => void };

export interface BatchWrite {
  /** XADDs, before any `ops`. */
  entries?: readonly NewStreamEntry[];
  /** Further commands, in order, after `entries`. */
  ops?: readonly BatchOp[];
  /** A string cursor (a listRepos cursor), SET as given. */
  cursor?: { key: string; value: string };
  /** A seq cursor, raised to `seq` unless it already stands higher. */
  seqCursor?: { key: string; seq: number };
}

export interface BatchResult {
  /** Stream ids of `entries` and of the `entry` ops, in order. */
  ids: string[];
  /** With `seqCursor`: the seq stored after the write, ours or a higher one another writer put there. */
  seqCursor?: number;
}

/** Redis refused part of a batch. What else the MULTI did stands; the writer must stop rather than carry on past it. */
export class StreamWriteError extends SkytideError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('stream_write_failed', message, {}, options);
    this.name = 'StreamWriteError';
  }
}

export async function writeBatch(redis: Redis, batch: BatchWrite): Promise<BatchResult> {
  const entries = batch.entries ?? [];
  const ops = batch.ops ?? [];
  if (entries.length === 0 && ops.length === 0 && batch.cursor === undefined && batch.seqCursor === undefined) return { ids: [] };
  const scripts = new Set<RedisScript>();
  for (const op of ops) if (op.kind === 'script') scripts.add(op.script);
  if (batch.seqCursor !== undefined) scripts.add(RAISE_SEQ_CURSOR);
  // ioredis copies the client's scripts into a MULTI when it is made: define them first.
  defineScripts(redis, scripts);
  const multi = redis.multi();
  // What each reply is for: an entry id, a script's verdict, the cursor's new value, or nothing.
  const roles: ({ kind: 'id' } | { kind: 'reply'; onReply: (reply: unknown) => void } | { kind: 'cursor' } | { kind: 'none' })[] = [];
  const xadd = (entry: NewStreamEntry) => {
    // NOTE: never MAXLEN: trimming could delete entries no consumer has processed yet.
    multi.xadd(entry.stream, '*', ...Object.entries(entry.fields).flat());
    roles.push({ kind: 'id' });
  };
  for (const entry of entries) xadd(entry);
  for (const op of ops) {
    if (op.kind === 'entry') xadd(op.entry);
    else if (op.kind === 'command') {
      multi.call(op.name, ...op.args);
      roles.push({ kind: 'none' });
    } else {
      queueScript(multi, op.script, op.keys, op.args);
      roles.push(op.onReply === undefined ? { kind: 'none' } : { kind: 'reply', onReply: op.onReply });
    }
  }
  if (batch.cursor !== undefined) {
    multi.set(batch.cursor.key, batch.cursor.value);
    roles.push({ kind: 'none' });
  }
  if (batch.seqCursor !== undefined) {
    queueScript(multi, RAISE_SEQ_CURSOR, [batch.seqCursor.key], [String(batch.seqCursor.seq)]);
    roles.push({ kind: 'cursor' });
  }
  const replies = await multi.exec();
  if (replies === null) throw new StreamWriteError('MULTI was aborted (EXEC returned null)');
  const result: BatchResult = { ids: [] };
  replies.forEach(([err, reply], i) => {
    if (err !== null) throw new StreamWriteError(`command ${i} of the batch failed`, { cause: err });
    const role = roles[i];
    if (role?.kind === 'id') result.ids.push(String(reply));
    else if (role?.kind === 'cursor') result.seqCursor = Number(reply);
    else if (role?.kind === 'reply') role.onReply(reply);
  });
  return result;
}

/** Entries (and a string cursor) in one MULTI; answers their stream ids. */
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
  /** Seq cursors raised to `seq` (each shard's cursor for one host): each lands in the MULTI of its slot. */
  seqCursors?: { keys: readonly string[]; seq: number };
}

/**
 * A batch whose ops span hash slots (STREAM_SHARDS > 1, or a Redis Cluster): one MULTI per hash tag, each with the
 * ops of that tag in order and the cursor of that tag, written side by side. Each slot's part is atomic with its own
 * cursor; a crash between two parts leaves some shards' cursors ahead, and on resume each shard skips what is at or
 * below its own cursor, so nothing is lost or written twice. Every cursor is raised, even where the batch wrote
 * nothing, so the lowest one (where the reader resumes) keeps moving. Answers each cursor's stored value afterwards.
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
  const stored = new Map<string, number>();
  await Promise.all([...groups.values()].map(async (g) => {
    const seq = batch.seqCursors?.seq;
    const result = await writeBatch(redis, { ops: g.ops, ...(g.cursor === undefined || seq === undefined ? {} : { seqCursor: { key: g.cursor, seq } }) });
    if (g.cursor !== undefined && result.seqCursor !== undefined) stored.set(g.cursor, result.seqCursor);
  }));
  return stored;
}
