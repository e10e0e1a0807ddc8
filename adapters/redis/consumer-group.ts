// Consumer-group primitives for the stream consumers (README.md, Contracts: the groups, settling, the DLQ).
// Groups start at id 0 with MKSTREAM. Settling a batch is ONE MULTI: the XADDs to <stream>_dlq, then XACK and XDEL
// of every settled id, so an entry is never acknowledged without its dead letter, nor dead-lettered twice. No XTRIM,
// no MAXLEN: nothing pending is ever deleted. Every EXEC reply is checked (ioredis reports them, it does not throw).
import type { Redis } from 'ioredis';
import { StreamWriteError } from './stream-writer.ts';

export interface StreamEntry {
  id: string;
  fields: Record<string, string>;
}

export async function ensureGroup(redis: Redis, stream: string, group: string): Promise<void> {
  try {
    await redis.xgroup('CREATE', stream, group, '0', 'MKSTREAM');
  } catch (err) {
    if (!(err instanceof Error) || !err.message.includes('BUSYGROUP')) throw err;
  }
}

function toFields(flat: unknown): Record<string, string> {
  const fields: Record<string, string> = {};
  if (!Array.isArray(flat)) return fields;
  for (let i = 0; i + 1 < flat.length; i += 2) fields[String(flat[i])] = String(flat[i + 1]);
  return fields;
}

// NOTE: an entry deleted under a pending id comes back with null fields; it keeps its id and gets no fields, so the
// parser rejects it and it is dead-lettered rather than dropped in silence.
function toEntries(raw: unknown): StreamEntry[] {
  if (!Array.isArray(raw)) return [];
  return raw
    .filter((e): e is [string, unknown] => Array.isArray(e) && typeof e[0] === 'string')
    .map(([id, flat]) => ({ id, fields: toFields(flat) }));
}

/** New entries for this consumer, waiting up to blockMs. Use a connection of its own: BLOCK holds it. */
export async function readNew(redis: Redis, stream: string, group: string, consumer: string, count: number, blockMs: number): Promise<StreamEntry[]> {
  const reply: unknown = await redis.xreadgroup('GROUP', group, consumer, 'COUNT', count, 'BLOCK', blockMs, 'STREAMS', stream, '>');
  if (!Array.isArray(reply)) return [];
  const first: unknown = reply[0];
  return Array.isArray(first) ? toEntries(first[1]) : [];
}

/**
 * Our own pending entries after `after`, oldest first (XREADGROUP history, id instead of '>'): what a process of this
 * consumer name held when it died. Each read counts a delivery, as a claim does.
 */
export async function readOwnPending(redis: Redis, stream: string, group: string, consumer: string, count: number, after: string): Promise<StreamEntry[]> {
  const reply: unknown = await redis.xreadgroup('GROUP', group, consumer, 'COUNT', count, 'STREAMS', stream, after);
  if (!Array.isArray(reply)) return [];
  const first: unknown = reply[0];
  return Array.isArray(first) ? toEntries(first[1]) : [];
}

export interface ClaimPage {
  entries: StreamEntry[];
  /** Where the PEL scan goes on; '0-0' when it is complete. */
  next: string;
}

/** Entries pending longer than minIdleMs on any consumer (a crashed or stuck one), now ours to process again. */
export async function claimIdle(redis: Redis, stream: string, group: string, consumer: string, minIdleMs: number, count: number, start = '0-0'): Promise<ClaimPage> {
  const reply: unknown = await redis.xautoclaim(stream, group, consumer, minIdleMs, start, 'COUNT', count);
  if (!Array.isArray(reply)) return { entries: [], next: '0-0' };
  return { entries: toEntries(reply[1]), next: typeof reply[0] === 'string' ? reply[0] : '0-0' };
}

/**
 * Resets the idle time of entries we still own without counting a delivery (XCLAIM ... JUSTID), so that while we
 * wait out an outage no other consumer claims them and their delivery counts do not climb.
 */
export async function keepClaimed(redis: Redis, stream: string, group: string, consumer: string, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await redis.xclaim(stream, group, consumer, 0, ...ids, 'JUSTID');
}

/**
 * Sets the delivery counts of pending entries we own (XCLAIM ... RETRYCOUNT JUSTID, one per distinct count): a
 * delivery that ended in a wait is taken back, so waiting never brings an entry closer to the DLQ. Their idle time
 * restarts too: they come back through XAUTOCLAIM once idle for the claim timeout.
 */
export async function setDeliveryCounts(redis: Redis, stream: string, group: string, consumer: string, counts: ReadonlyMap<string, number>): Promise<void> {
  const byCount = new Map<number, string[]>();
  for (const [id, n] of counts) byCount.set(n, [...(byCount.get(n) ?? []), id]);
  for (const [n, ids] of byCount) await redis.xclaim(stream, group, consumer, 0, ...ids, 'RETRYCOUNT', Math.max(0, n), 'JUSTID');
}

/**
 * The most deliveries among the next `count` pending entries a read would take, without delivering them (XPENDING):
 * our own after `after` (`consumer` given, what readOwnPending reads), or any consumer's idle at least `minIdleMs`
 * from `start` on (what claimIdle claims). 0 when there are none.
 */
export async function mostDeliveries(redis: Redis, stream: string, group: string, next: { consumer: string; after: string } | { minIdleMs: number; start: string }, count: number): Promise<number> {
  const reply: unknown = 'consumer' in next
    ? await redis.xpending(stream, group, next.after === '0-0' ? '-' : `(${next.after}`, '+', count, next.consumer)
    : await redis.xpending(stream, group, 'IDLE', next.minIdleMs, next.start === '0-0' ? '-' : next.start, '+', count);
  let most = 0;
  for (const row of Array.isArray(reply) ? reply : []) if (Array.isArray(row)) most = Math.max(most, Number(row[3]) || 0);
  return most;
}

/** How many times each of our pending entries has been delivered (this delivery included); one XPENDING per page. */
export async function deliveryCounts(redis: Redis, stream: string, group: string, consumer: string, ids: readonly string[]): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  if (ids.length === 0) return counts;
  const wanted = new Set(ids);
  const sorted = [...ids].sort(compareIds);
  const end = sorted.at(-1)!;
  // Our other pending entries (retries not yet reclaimed) may sit inside the range, hence the slack and the paging.
  const page = ids.length + 100;
  let start = sorted[0]!;
  for (;;) {
    const reply: unknown = await redis.xpending(stream, group, start, end, page, consumer);
    const rows = Array.isArray(reply) ? reply : [];
    for (const row of rows) {
      if (!Array.isArray(row)) continue;
      const id: unknown = row[0];
      if (typeof id === 'string' && wanted.has(id)) counts.set(id, Number(row[3]));
    }
    const last: unknown = Array.isArray(rows.at(-1)) ? (rows.at(-1) as unknown[])[0] : undefined;
    if (counts.size === wanted.size || rows.length < page || typeof last !== 'string') return counts;
    start = `(${last}`;
  }
}

export function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bm, bs] = b.split('-').map(BigInt) as [bigint, bigint];
  return am !== bm ? (am < bm ? -1 : 1) : as === bs ? 0 : as < bs ? -1 : 1;
}

export interface DeadLetter {
  entry: StreamEntry;
  reason: string;
  attempts: number;
  /** What the function or the parser said (an outcome's message, the error an entry threw). */
  error?: string;
}

/**
 * The fields a dead letter adds to the original entry: `reason` and `attempts` (rsky's names),
 * `error` (what was said about it, at most ERROR_FIELD_CHARS) and `source_id` (its id in the source stream). A letter
 * replayed and dead-lettered again carries the new verdict only; a replay removes them all.
 */
export const VERDICT_FIELDS: ReadonlySet<string> = new Set(['reason', 'attempts', 'error', 'source_id']);

/** The longest `error` a letter keeps: enough for a message and its causes, never a whole body or stack. */
export const ERROR_FIELD_CHARS = 1000;

function bounded(text: string): string {
  return text.length <= ERROR_FIELD_CHARS ? text : `${text.slice(0, ERROR_FIELD_CHARS - 1)}…`;
}

export interface Settlement {
  /** Processed: acknowledged and deleted. */
  ack: readonly string[];
  /** Moved to the DLQ with their original fields plus the VERDICT_FIELDS, then acknowledged and deleted. */
  letters: readonly DeadLetter[];
}

export async function settle(redis: Redis, stream: string, dlq: string, group: string, { ack, letters }: Settlement): Promise<void> {
  const ids = [...ack, ...letters.map((l) => l.entry.id)];
  if (ids.length === 0) return;
  if (letters.length > 0) {
    // NOTE: EXEC does not roll back a command that fails at run time; for XADD '*' that can only be WRONGTYPE, which
    // would let the XACK+XDEL after it run and lose the entry. Refuse up front instead: it stays pending.
    const type = await redis.type(dlq);
    if (type !== 'stream' && type !== 'none') throw new StreamWriteError(`settle ${stream}: ${dlq} is a ${type}, not a stream`);
  }
  const multi = redis.multi();
  for (const { entry, reason, attempts, error } of letters) {
    // A letter that comes back through the DLQ again carries its old verdict: the new one replaces it.
    const original = Object.entries(entry.fields).filter(([name]) => !VERDICT_FIELDS.has(name));
    const said = error === undefined ? [] : ['error', bounded(error)];
    multi.xadd(dlq, '*', ...original.flat(), 'reason', reason, 'attempts', String(attempts), ...said, 'source_id', entry.id);
  }
  multi.xack(stream, group, ...ids).xdel(stream, ...ids);
  const replies = await multi.exec();
  if (replies === null) throw new StreamWriteError(`settle ${stream}: MULTI was aborted`);
  for (const [err] of replies) if (err !== null) throw new StreamWriteError(`settle ${stream}: a command failed`, { cause: err });
}

export interface Backlog {
  /** Entries still in the stream (undelivered, pending or not yet deleted). */
  length: number;
  /** Entries delivered to some consumer of the group and not yet acknowledged. */
  pending: number;
}

/** What is left to do for a group; `{ length: 0, pending: 0 }` means the stream is fully processed. */
export async function readBacklog(redis: Redis, stream: string, group: string): Promise<Backlog> {
  const replies = await redis.multi().xlen(stream).xpending(stream, group).exec();
  if (replies === null) throw new StreamWriteError(`backlog ${stream}: MULTI was aborted`);
  const [[lenErr, length], [pendingErr, summary]] = replies as [[Error | null, unknown], [Error | null, unknown]];
  // A group that does not exist yet has nothing pending.
  if (pendingErr !== null && !pendingErr.message.includes('NOGROUP')) throw new StreamWriteError(`backlog ${stream}`, { cause: pendingErr });
  if (lenErr !== null) throw new StreamWriteError(`backlog ${stream}`, { cause: lenErr });
  const pending = pendingErr === null && Array.isArray(summary) ? Number(summary[0]) : 0;
  return { length: Number(length), pending };
}

/** Pending entries of the whole group (XPENDING summary form). */
export async function pendingCount(redis: Redis, stream: string, group: string): Promise<number> {
  const summary: unknown = await redis.xpending(stream, group);
  return Array.isArray(summary) ? Number(summary[0]) : 0;
}
