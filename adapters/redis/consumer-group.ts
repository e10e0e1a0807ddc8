// Consumer-group primitives for the stream consumers (README.md, Contracts: the groups, settling, the DLQ).
// Groups start at id 0 with MKSTREAM. Settling a batch is ONE script (SETTLE): per entry still pending for the group,
// its dead letter XADDed to <stream>_dlq (or, for the work queue's retries, its new entry), then its XACK and XDEL, so
// an entry is never acknowledged without what replaces it, nor dead-lettered or retried twice: a settle run again
// (ioredis resends it after a reconnect that lost its reply) finds nothing pending and writes nothing. No XTRIM, no
// MAXLEN: nothing pending is ever deleted.
import type { Redis } from 'ioredis';
import { refuseWrongType, StreamWriteError } from './stream-writer.ts';
import { runScript } from './scripts.ts';
import { KEY_TYPES_LUA } from './lua/key-types.ts';
import type { Log, Metrics } from '../../functions/ports.ts';

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

/** What a read of pending entries found. */
export interface PendingRead {
  entries: StreamEntry[];
  /**
   * Pending ids whose entry was deleted (XDEL or XTRIM from outside): nothing to process, and a dead letter of one
   * would hold no content to replay. XREADGROUP's history gives them null fields and keeps them pending; XAUTOCLAIM
   * lists them apart and takes them off the PEL itself. Both reads report them here, for forgetDeleted.
   */
  deleted: string[];
}

function readEntries(raw: unknown): PendingRead {
  const read: PendingRead = { entries: [], deleted: [] };
  if (!Array.isArray(raw)) return read;
  for (const e of raw as unknown[]) {
    if (!Array.isArray(e) || typeof e[0] !== 'string') continue;
    if (Array.isArray(e[1])) read.entries.push({ id: e[0], fields: toFields(e[1]) });
    else read.deleted.push(e[0]);
  }
  return read;
}

/** New entries for this consumer, waiting up to blockMs. Use a connection of its own: BLOCK holds it. */
export async function readNew(redis: Redis, stream: string, group: string, consumer: string, count: number, blockMs: number): Promise<StreamEntry[]> {
  const reply: unknown = await redis.xreadgroup('GROUP', group, consumer, 'COUNT', count, 'BLOCK', blockMs, 'STREAMS', stream, '>');
  if (!Array.isArray(reply)) return [];
  const first: unknown = reply[0];
  // '>' hands out only entries the stream holds: none is deleted.
  return Array.isArray(first) ? readEntries(first[1]).entries : [];
}

export interface OwnPendingRead extends PendingRead {
  /** The last id read, of either kind: where the next read goes on; undefined when there was none. */
  last: string | undefined;
}

/**
 * Our own pending entries after `after`, oldest first (XREADGROUP history, id instead of '>'): what a process of this
 * consumer name held when it died. Each read counts a delivery, as a claim does.
 */
export async function readOwnPending(redis: Redis, stream: string, group: string, consumer: string, count: number, after: string): Promise<OwnPendingRead> {
  const reply: unknown = await redis.xreadgroup('GROUP', group, consumer, 'COUNT', count, 'STREAMS', stream, after);
  const first: unknown = Array.isArray(reply) ? reply[0] : undefined;
  const read = readEntries(Array.isArray(first) ? first[1] : undefined);
  const ids = [...read.entries.map((e) => e.id), ...read.deleted];
  return { ...read, last: ids.length === 0 ? undefined : ids.reduce((a, b) => (compareIds(a, b) >= 0 ? a : b)) };
}

export interface ClaimPage extends PendingRead {
  /** Where the PEL scan goes on; '0-0' when it is complete. */
  next: string;
}

/** Entries pending longer than minIdleMs on any consumer (a crashed or stuck one), now ours to process again. */
export async function claimIdle(redis: Redis, stream: string, group: string, consumer: string, minIdleMs: number, count: number, start = '0-0'): Promise<ClaimPage> {
  const reply: unknown = await redis.xautoclaim(stream, group, consumer, minIdleMs, start, 'COUNT', count);
  if (!Array.isArray(reply)) return { entries: [], deleted: [], next: '0-0' };
  const read = readEntries(reply[1]);
  // Redis 7 lists the deleted ones apart, already off the PEL.
  const gone: unknown = reply[2];
  if (Array.isArray(gone)) for (const id of gone) if (typeof id === 'string') read.deleted.push(id);
  return { ...read, next: typeof reply[0] === 'string' ? reply[0] : '0-0' };
}

/** Where forgetDeleted says what it dropped; `metricStream` is the name its counts carry (the logical, unprefixed one). */
export interface ForgetReport {
  log: Log;
  metrics: Metrics;
  metricStream: string;
}

/**
 * Acknowledges pending ids whose entry was deleted (PendingRead.deleted); an id no longer pending is left as it is.
 * Nothing to process, and a dead letter would hold no content to replay (`dlq replay` leaves such letters,
 * unreplayable). Counted (skytide_consumer_entries_total{outcome="deleted"}) and logged first: XAUTOCLAIM took them
 * off the PEL already, so a failure after it would lose them without a word.
 */
export async function forgetDeleted(redis: Redis, stream: string, group: string, ids: readonly string[], report?: ForgetReport): Promise<void> {
  if (ids.length === 0) return;
  if (report !== undefined) {
    report.metrics.inc('skytide_consumer_entries_total', { stream: report.metricStream, outcome: 'deleted' }, ids.length);
    // The key itself: what an operator's XPENDING or XINFO names.
    report.log.warn('pending entries whose data was deleted: acknowledged, nothing to process or dead-letter', {
      stream, count: ids.length, ids: ids.slice(0, 20),
    });
  }
  await redis.xack(stream, group, ...ids);
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
  /** Written again as a new entry (the work queue's retries), then acknowledged and deleted. */
  requeue?: readonly Requeue[];
  /** The sorted set a delayed requeue goes to (the work queue's `<stream>:delayed`). */
  delayed?: string;
}

/** A pending entry's replacement: a new entry of the stream now, or a member of the delayed set (scored when due). */
export type Requeue = { id: string } & ({ fields: Record<string, string> } | { score: number; member: string });

/**
 * KEYS[1] = the stream, KEYS[2] = its DLQ, KEYS[3] = the delayed set (requeues only). ARGV[1] = the group, ARGV[2] =
 * how many acknowledged ids follow, then those ids, then per entry moved: its id, where to (`d` a dead letter XADDed
 * to the DLQ, `s` a new entry XADDed to the stream, `z` a ZADD to the delayed set), its number of arguments, those
 * (the fields; the score and member). A move is written only for an entry still pending for the group (XPENDING
 * first, so that an XADD Redis refused would leave its entry pending, never acknowledged without its letter or its
 * retry). Acknowledged ids need no such check (XACK and XDEL again change nothing): they go by 500 a call (unpack's
 * stack is bounded). A settle of thousands of entries is one round trip, as its MULTI was.
 * Before any move is written, the DLQ and the delayed set are checked: a key of another type (made by hand) answers
 * '<key> is a <type>, not a <stream|zset>' and nothing is written (lua/key-types.ts), since found at its write, the
 * moves and acknowledgements before it would stand. Else answers {acknowledged, dead-lettered, requeued}.
 */
export const SETTLE = `${KEY_TYPES_LUA}
local stream, dlq, group = KEYS[1], KEYS[2], ARGV[1]
local acks = tonumber(ARGV[2])
local a = 3 + acks
if a <= #ARGV then
  local refused = refusedType(dlq, 'stream') or (KEYS[3] and refusedType(KEYS[3], 'zset'))
  if refused then return refused end
end
local acked, lettered, requeued = 0, 0, 0
-- Acknowledgements first: XACK and XDEL free memory, and once a script has written, Redis out of memory lets the
-- rest of it write too, so a batch with a dead letter still settles at maxmemory (its letter's XADD first was refused,
-- and the whole settle with it, while nothing else could drain the stream).
for i = 3, 2 + acks, 500 do
  local last = math.min(i + 499, 2 + acks)
  acked = acked + redis.call('XACK', stream, group, unpack(ARGV, i, last))
  redis.call('XDEL', stream, unpack(ARGV, i, last))
end
while a <= #ARGV do
  local id, to, n = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2])
  if #redis.call('XPENDING', stream, group, id, id, 1) > 0 then
    -- The entry's acknowledgement before what replaces it: the script has then written, so at maxmemory its XADD or
    -- ZADD is let through (an entry moved, no growth). First, it was refused, and a settle of retries only, or of
    -- dead letters only, waited for memory that nothing else freed. Nothing can fail between the two: the keys'
    -- types were checked above.
    redis.call('XACK', stream, group, id)
    redis.call('XDEL', stream, id)
    if to == 'z' then
      redis.call('ZADD', KEYS[3], ARGV[a + 3], ARGV[a + 4])
      requeued = requeued + 1
    elseif to == 's' then
      redis.call('XADD', stream, '*', unpack(ARGV, a + 3, a + 2 + n))
      requeued = requeued + 1
    else
      redis.call('XADD', dlq, '*', unpack(ARGV, a + 3, a + 2 + n))
      lettered = lettered + 1
    end
  end
  a = a + 3 + n
end
return {acked, lettered, requeued}`;

export interface SettleResult {
  /** Entries acknowledged and deleted by this call: fewer than asked when a run before it (a resend) settled them. */
  acknowledged: number;
  deadLettered: number;
  requeued: number;
}

export async function settle(redis: Redis, stream: string, dlq: string, group: string, { ack, letters, requeue = [], delayed }: Settlement): Promise<SettleResult> {
  if (ack.length === 0 && letters.length === 0 && requeue.length === 0) return { acknowledged: 0, deadLettered: 0, requeued: 0 };
  const args: string[] = [group, String(ack.length), ...ack];
  for (const { entry, reason, attempts, error } of letters) {
    // A letter that comes back through the DLQ again carries its old verdict: the new one replaces it.
    const original = Object.entries(entry.fields).filter(([name]) => !VERDICT_FIELDS.has(name));
    const said = error === undefined ? [] : ['error', bounded(error)];
    const fields = [...original.flat(), 'reason', reason, 'attempts', String(attempts), ...said, 'source_id', entry.id];
    args.push(entry.id, 'd', String(fields.length), ...fields);
  }
  for (const r of requeue) {
    if ('fields' in r) args.push(r.id, 's', String(2 * Object.keys(r.fields).length), ...Object.entries(r.fields).flat());
    else if (delayed === undefined) throw new Error(`settle ${stream}: a delayed requeue needs the delayed set's key`);
    else args.push(r.id, 'z', '2', String(r.score), r.member);
  }
  const keys = delayed === undefined ? [stream, dlq] : [stream, dlq, delayed];
  const reply: unknown = await runScript(redis, SETTLE, keys, args);
  // NOTE: refused up front, in the script: an entry whose letter cannot be written stays pending.
  refuseWrongType(`settle ${stream}`, reply);
  if (!Array.isArray(reply)) throw new StreamWriteError(`settle ${stream}: the script answered ${typeof reply}, not a list`);
  return { acknowledged: Number(reply[0]), deadLettered: Number(reply[1]), requeued: Number(reply[2]) };
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
