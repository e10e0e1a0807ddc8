// The work-queue port (work-queue.ts) over a Redis stream and its consumer group, for Node and containers. Built on
// the stream helpers the consumers use (consumer-group.ts: groups, XREADGROUP, XAUTOCLAIM, XPENDING counts) and the
// same dead-letter layout and settle (`<stream>_dlq`: the original fields plus `reason`, `attempts` and `source_id`,
// which dead-letters.ts lists, replays and purges).
// - A message's attempts are the deliveries of its current entry (XPENDING's count) plus `prior`, a field carried
//   from the entry it replaced: a retry writes a new entry and removes the old one in ONE script (consumer-group.ts's
//   settle, the whole batch at once), so a crash between them can neither lose nor duplicate the message. It writes
//   only for entries still pending, so a settle ioredis resends (a reconnect lost its reply) writes no retry or dead
//   letter twice. An outage retry carries one attempt fewer, so it counts none.
// - A delay parks the entry in a sorted set (`<stream>:delayed`, score = when it is due); `receive` first moves the due
//   ones into the stream by one script (ZRANGEBYSCORE, XADD, ZREM together).
// - An entry whose consumer crashed stays pending and is claimed after `claimIdleMs` (XAUTOCLAIM counts a delivery).
//   One deleted meanwhile (XDEL, XTRIM by hand) holds nothing to handle or to replay from a letter: it is acknowledged,
//   counted (skytide_consumer_entries_total{outcome="deleted"}) and logged, as the stream consumer does.
import type { Redis, Result } from 'ioredis';
import {
  claimIdle, deliveryCounts, ensureGroup, forgetDeleted, readNew, settle, VERDICT_FIELDS,
  type DeadLetter, type Requeue, type StreamEntry,
} from '../redis/consumer-group.ts';
import { refuseWrongType, StreamWriteError } from '../redis/stream-writer.ts';
import { defineScripts, type RedisScript } from '../redis/scripts.ts';
import { STORED_MEMBERS_LUA } from '../redis/lua/stored-members.ts';
import { KEY_TYPES_LUA } from '../redis/lua/key-types.ts';
import type { QueueHandler, QueueMessage, WorkQueue } from './work-queue.ts';
import { parseRepoBackfillEntry, repoBackfillJson, type RepoBackfillEntry } from '../../functions/events.ts';
import { noMetrics, silentLog, type Log, type Metrics } from '../../functions/ports.ts';
import type { Reason } from '../../functions/reasons.ts';

/** How a body becomes stream fields and back (JSON in `body` by default; `repo_backfill` keeps rsky's fields). */
export interface FieldCodec<T> {
  encode(body: T): Record<string, string>;
  /** Throws for fields that are not a body: the entry is then dead-lettered as `invalid_event`. */
  decode(fields: Record<string, string>): T;
}

export const jsonCodec = <T>(): FieldCodec<T> => ({
  encode: (body) => ({ body: JSON.stringify(body) }),
  decode: (fields) => {
    if (fields.body === undefined) throw new Error('entry has no body field');
    return JSON.parse(fields.body) as T;
  },
});

/** `repo_backfill`'s own format (rsky's): the entry as JSON in the `repo` field, parsed at the edge. */
export const repoBackfillCodec: FieldCodec<RepoBackfillEntry> = {
  encode: (entry) => ({ repo: repoBackfillJson(entry) }),
  decode: (fields) => {
    const parsed = parseRepoBackfillEntry(JSON.parse(fields.repo ?? 'null'));
    if (!parsed.ok) throw new Error(parsed.message);
    return parsed.value;
  },
};

export interface RedisWorkQueueOptions<T> {
  redis: Redis;
  /** Full stream key (already prefixed); the DLQ is `<stream>_dlq`, delayed entries `<stream>:delayed`. */
  stream: string;
  group: string;
  consumer: string;
  /** Deliveries after which a retried message is dead-lettered. */
  maxAttempts: number;
  codec?: FieldCodec<T>;
  /** Pending entries idle this long (their consumer crashed) are claimed again. */
  claimIdleMs?: number;
  now?: () => number;
  log?: Log;
  metrics?: Metrics;
  /** The `stream` label of its counts (the unprefixed name); the stream key by default. */
  metricStream?: string;
}

export interface RedisWorkQueue<T> extends WorkQueue<T> {
  /**
   * One pull: moves due delayed entries in, claims abandoned ones or reads new ones (waiting up to `blockMs`), hands
   * them to `handler` and settles them as it said, in one script. A message the handler left unsettled is retried. A
   * handler that throws leaves its batch pending, as a crash would. Answers how many messages were handled.
   */
  receive(handler: QueueHandler<T>, options?: { count?: number; blockMs?: number }): Promise<number>;
  /** Makes the group (MKSTREAM); `receive` calls it once by itself. */
  ensure(): Promise<void>;
}

const PRIOR = 'prior';
/** Fields the queue and its dead letters add to a body's own (a body's codec must not use these names). */
const OWN_FIELDS: ReadonlySet<string> = new Set([PRIOR, ...VERDICT_FIELDS]);

// KEYS[1] delayed set, KEYS[2] stream, KEYS[3] its DLQ; ARGV[1] now, ARGV[2] how many. Members are JSON arrays of a
// random id, then field, value, ... A member that is not one (truncated, another version's, written by hand) goes to the
// DLQ as it is stored (field `delayed`, reason invalid_delayed_entry) instead of failing the script there on every
// pull: it sorts first among the due, so it held back every entry due after it, for good (the checks are
// label-parking.ts's too: redis/lua/stored-members.ts). Every member is read first: a stream, or a DLQ a member
// would go to, of another type (made by hand) answers '<key> is a <type>, not a stream' and nothing is moved (found
// at its write, the members before it were moved and the pull failed, every pull). Answers {moved, invalid}.
// Exported for the in-process Redis's JS twin (long-runners/dev/memory-redis/script-twins.ts).
export const INVALID_DELAYED_ENTRY: Reason = 'invalid_delayed_entry';
export const PROMOTE_DUE: RedisScript = {
  name: 'skytideWorkQueuePromoteDue',
  numberOfKeys: 3,
  lua: `${KEY_TYPES_LUA}${STORED_MEMBERS_LUA}
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local decoded, invalid = {}, 0
for i, member in ipairs(due) do
  decoded[i] = stringArrayOf(member, 1, 'a random id, then field, value, ...') or false
  if not decoded[i] then invalid = invalid + 1 end
end
local refused = refusedType(KEYS[2], 'stream') or (invalid > 0 and refusedType(KEYS[3], 'stream'))
if refused then return refused end
invalid = 0
for i, member in ipairs(due) do
  -- Removed before it is added: the script has then written, so at maxmemory the XADD is let through (a member moved,
  -- no growth). First, it was refused, and every pull with an entry due failed before reading anything, so nothing
  -- was handled and acknowledged to free memory: the queue stood still. The keys' types were checked above.
  redis.call('ZREM', KEYS[1], member)
  local fields = decoded[i]
  if fields then
    redis.call('XADD', KEYS[2], '*', unpack(fields, 2))
  else
    invalid = invalid + 1
    deadLetterMember(KEYS[3], 'delayed', member, '${INVALID_DELAYED_ENTRY}',
      'a delayed member that is not a JSON array of a random id, then field, value, ...')
  end
end
return {#due - invalid, invalid}`,
};

type Settled =
  | { kind: 'ack' }
  | { kind: 'retry'; delayMs: number; outage: boolean; reason: string }
  | { kind: 'dead'; reason: string };

export function createRedisWorkQueue<T>(options: RedisWorkQueueOptions<T>): RedisWorkQueue<T> {
  const { redis, stream, group, consumer, maxAttempts } = options;
  const codec = options.codec ?? jsonCodec<T>();
  const claimIdleMs = options.claimIdleMs ?? 60_000;
  const now = options.now ?? Date.now;
  const log = options.log ?? silentLog;
  const metrics = options.metrics ?? noMetrics;
  const dlq = `${stream}_dlq`;
  const delayed = `${stream}:delayed`;
  let ensured = false;
  defineScripts(redis, [PROMOTE_DUE]);

  const flatten = (fields: Record<string, string>): string[] => Object.entries(fields).flat();
  // A random first element keeps two identical bodies due at the same time distinct members of the set.
  const member = (fields: Record<string, string>): string => JSON.stringify([crypto.randomUUID(), ...flatten(fields)]);

  function queueWrite(multi: ReturnType<Redis['multi']>, fields: Record<string, string>, delayMs: number): void {
    if (delayMs > 0) multi.zadd(delayed, now() + delayMs, member(fields));
    else multi.xadd(stream, '*', ...flatten(fields));
  }

  async function exec(multi: ReturnType<Redis['multi']>, what: string): Promise<void> {
    const replies = await multi.exec();
    if (replies === null) throw new StreamWriteError(`${what} ${stream}: MULTI was aborted`);
    for (const [err] of replies) if (err !== null) throw new StreamWriteError(`${what} ${stream}: a command failed`, { cause: err });
  }

  async function ensure(): Promise<void> {
    if (ensured) return;
    await ensureGroup(redis, stream, group);
    ensured = true;
  }

  /** Claimed ids whose entry was deleted (Redis 6.2's XAUTOCLAIM leaves them pending; 7 took them off already). */
  const forget = (deleted: readonly string[]): Promise<void> =>
    forgetDeleted(redis, stream, group, deleted, { log, metrics, metricStream: options.metricStream ?? stream });

  async function take(count: number, blockMs: number): Promise<StreamEntry[]> {
    const promoted = await redis.skytideWorkQueuePromoteDue(delayed, stream, dlq, String(now()), String(count));
    refuseWrongType(`promote ${stream}`, promoted);
    const [, invalid] = promoted as [number, number];
    if (invalid > 0) {
      log.warn('delayed entries that are no entry moved to the DLQ', { stream, dlq, reason: INVALID_DELAYED_ENTRY, count: invalid });
      metrics.inc('skytide_consumer_entries_total', { stream: options.metricStream ?? stream, outcome: 'invalid' }, invalid);
      metrics.inc('skytide_dead_letters_total', { stream: options.metricStream ?? stream, reason: INVALID_DELAYED_ENTRY }, invalid);
    }
    const claimed = await claimIdle(redis, stream, group, consumer, claimIdleMs, count);
    await forget(claimed.deleted);
    if (claimed.entries.length > 0) return claimed.entries;
    return readNew(redis, stream, group, consumer, count, blockMs);
  }

  return {
    ensure,
    async send(bodies, sendOptions) {
      if (bodies.length === 0) return;
      const multi = redis.multi();
      for (const body of bodies) queueWrite(multi, codec.encode(body), sendOptions?.delayMs ?? 0);
      await exec(multi, 'send');
    },

    async receive(handler, receiveOptions) {
      await ensure();
      const entries = await take(receiveOptions?.count ?? 10, receiveOptions?.blockMs ?? 1_000);
      if (entries.length === 0) return 0;
      const deliveries = await deliveryCounts(redis, stream, group, consumer, entries.map((e) => e.id));
      const settled = new Map<string, Settled>();
      const messages: QueueMessage<T>[] = [];
      const invalid: { entry: StreamEntry; attempts: number }[] = [];
      for (const entry of entries) {
        const attempts = (Number(entry.fields[PRIOR]) || 0) + (deliveries.get(entry.id) ?? 1);
        let body: T;
        try {
          body = codec.decode(entry.fields);
        } catch {
          invalid.push({ entry, attempts });
          continue;
        }
        const settle = (s: Settled) => {
          if (!settled.has(entry.id)) settled.set(entry.id, s);
        };
        messages.push({
          id: entry.id,
          body,
          attempts,
          ack: () => settle({ kind: 'ack' }),
          retry: (o) => settle({ kind: 'retry', delayMs: o?.delayMs ?? 0, outage: o?.outage === true, reason: o?.reason ?? 'max_attempts' }),
          deadLetter: (reason) => settle({ kind: 'dead', reason }),
        });
      }
      if (messages.length > 0) await handler(messages);

      const ack: string[] = [];
      const letters: DeadLetter[] = [];
      const requeue: Requeue[] = [];
      const own = (entry: StreamEntry): Record<string, string> =>
        Object.fromEntries(Object.entries(entry.fields).filter(([name]) => !OWN_FIELDS.has(name)));
      const deadLetter = (entry: StreamEntry, reason: string, attempts: number) => letters.push({ entry: { id: entry.id, fields: own(entry) }, reason, attempts });
      for (const { entry, attempts } of invalid) deadLetter(entry, 'invalid_event', attempts);
      for (const message of messages) {
        const entry = entries.find((e) => e.id === message.id)!;
        // Unsettled when the handler returned: retried, as the port promises.
        const s = settled.get(message.id) ?? { kind: 'retry', delayMs: 0, outage: false, reason: 'unsettled' };
        if (s.kind === 'ack') ack.push(entry.id);
        else if (s.kind === 'dead') deadLetter(entry, s.reason, message.attempts);
        else if (!s.outage && message.attempts >= maxAttempts) deadLetter(entry, s.reason, message.attempts);
        else {
          const fields = { ...own(entry), [PRIOR]: String(s.outage ? message.attempts - 1 : message.attempts) };
          requeue.push(s.delayMs > 0 ? { id: entry.id, score: now() + s.delayMs, member: member(fields) } : { id: entry.id, fields });
        }
      }
      await settle(redis, stream, dlq, group, { ack, letters, requeue, delayed });
      for (const { reason } of letters) metrics.inc('skytide_dead_letters_total', { stream: options.metricStream ?? stream, reason });
      return entries.length;
    },
  };
}

declare module 'ioredis' {
  interface RedisCommander<Context> {
    skytideWorkQueuePromoteDue(delayed: string, stream: string, dlq: string, now: string, count: string): Result<[number, number] | string, Context>;
  }
}
