// label_live entries parked while their label waits on its source's own host (a did:web host that does not answer:
// an outcome `wait` naming the source). Left pending in label_live they kept its length up, and at
// INGESTER_LABEL_HIGH_WATER_MARK every labeler's subscription paused: one labeler minting labels whose `src` is a
// did:web on a dead host stopped label ingestion from all. Parked, they leave the stream; the labeler that sent them is
// held on its own (parkedFrom, INGESTER_LABEL_PARKED_HIGH_WATER_MARK), the others read on.
// Keys, beside label_live (in its slot when tagged):
// - `label_live:parked:<source host>`: a list of that host's entries, oldest first, each a JSON array
//   [labeler host, source DID, parked at (ms), field, value, ...].
// - `label_live:parked_hosts`: a sorted set of those source hosts, scored by when each is to be checked again.
// - `label_live:parked_from`: a hash, labeler host -> how many of its entries are parked (per-labeler backpressure).
// Promises: an entry is parked (pushed, counted, its host scheduled) in the same script that acknowledges and deletes
// it, and only while it is still pending for the group, so a park run again (ioredis resends it after a reconnect
// that lost its reply) finds nothing pending and writes nothing; nothing is parked twice or lost. Releasing moves the
// head of a host's list back into label_live in one script (XADD each, then LTRIM them off); run again it releases
// the next ones, never the same twice. Parked entries are never dropped or dead-lettered here: a host that is down
// is no verdict. All of it survives restarts; process memory holds none of it.
import type { Redis } from 'ioredis';
import { runScript } from './scripts.ts';
import { STREAMS, type KeySpace } from './keys.ts';
import type { StreamEntry } from './consumer-group.ts';
import { didWebHost } from '../../functions/atproto/syntax/did.ts';

/**
 * KEYS[1] = the stream, KEYS[2] = the parked hosts (sorted set), KEYS[3] = the per-labeler counts (hash), KEYS[4...] =
 * the parked lists. ARGV[1] = the group, ARGV[2] = the score of a host not yet scheduled, then per entry: its id, the
 * index in KEYS of its list, its source host, its labeler host, the member. Each entry still pending is parked,
 * acknowledged and deleted; answers, per entry, 1 when it was parked by this run, else 0.
 */
export const PARK_LABELS = `
local stream, group = KEYS[1], ARGV[1]
local out = {}
for a = 3, #ARGV, 5 do
  local id = ARGV[a]
  if #redis.call('XPENDING', stream, group, id, id, 1) > 0 then
    redis.call('RPUSH', KEYS[tonumber(ARGV[a + 1])], ARGV[a + 4])
    redis.call('ZADD', KEYS[2], 'NX', ARGV[2], ARGV[a + 2])
    redis.call('HINCRBY', KEYS[3], ARGV[a + 3], 1)
    redis.call('XACK', stream, group, id)
    redis.call('XDEL', stream, id)
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out`;

/**
 * KEYS[1] = a host's parked list, KEYS[2] = the stream, KEYS[3] = the parked hosts, KEYS[4] = the per-labeler counts.
 * ARGV[1] = how many to release at most, ARGV[2] = the source host. Every member is decoded before anything is
 * written (a script's writes are not undone by a later error). Answers {released, left}.
 */
export const RELEASE_LABELS = `
local members = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
local decoded = {}
for i, m in ipairs(members) do decoded[i] = cjson.decode(m) end
for _, e in ipairs(decoded) do
  redis.call('XADD', KEYS[2], '*', unpack(e, 4))
  if redis.call('HINCRBY', KEYS[4], e[1], -1) <= 0 then redis.call('HDEL', KEYS[4], e[1]) end
end
redis.call('LTRIM', KEYS[1], #members, -1)
local left = redis.call('LLEN', KEYS[1])
if left == 0 then redis.call('ZREM', KEYS[3], ARGV[2]) end
return {#members, left}`;

/** One entry to park: `on` is the DID whose host it waits on, `from` the labeler host it was read from. */
export interface ParkEntry {
  entry: StreamEntry;
  on: string;
  from: string;
}

/** The head of a host's parked list: what the release checks. */
export interface ParkedHead {
  /** The source DID to resolve again. */
  on: string;
  /** When the oldest entry of the host was parked (ms since the epoch). */
  parkedAt: number;
}

/**
 * The host a waited-on DID lives on: a did:web's host (didWebHost, the host its document is fetched from; only a
 * resolvable did:web gets as far as a wait), in lower case; any other DID stands for itself.
 */
export function waitHost(did: string): string {
  return did.startsWith('did:web:') ? didWebHost(did).toLowerCase() : did;
}

export interface LabelParking {
  /**
   * Parks the entries (still pending for `group`), each acknowledged and deleted from the stream in the same step;
   * `firstCheckAt` schedules a host not already scheduled. Answers the entries this call parked.
   */
  park(group: string, entries: readonly ParkEntry[], firstCheckAt: number): Promise<ParkEntry[]>;
  /** Up to `max` source hosts due for a check at `now`. */
  due(now: number, max: number): Promise<string[]>;
  /** What the host's oldest parked entry waits on; undefined when none is parked (the host is unscheduled then). */
  head(host: string): Promise<ParkedHead | undefined>;
  /** Checks the host again at `at`, if it is still scheduled (another release may have emptied it). */
  reschedule(host: string, at: number): Promise<void>;
  /** Moves up to `max` of the host's oldest parked entries back into the stream. */
  release(host: string, max: number): Promise<{ released: number; left: number }>;
  /** label_live's length (XLEN). */
  streamLength(): Promise<number>;
  /** Entries parked from one labeler host (HGET: O(1), cheap enough for every hold check). */
  parkedFrom(labelerHost: string): Promise<number>;
}

export function createLabelParking(redis: Redis, keys: KeySpace): LabelParking {
  const stream = keys.stream(STREAMS.labelLive);
  const list = (host: string) => keys.beside(STREAMS.labelLive, `:parked:${host}`);
  const hosts = keys.beside(STREAMS.labelLive, ':parked_hosts');
  const from = keys.beside(STREAMS.labelLive, ':parked_from');
  return {
    async park(group, entries, firstCheckAt) {
      if (entries.length === 0) return [];
      const lists: string[] = [];
      const args: string[] = [group, String(firstCheckAt)];
      const now = Date.now();
      for (const p of entries) {
        const host = waitHost(p.on);
        const key = list(host);
        let at = lists.indexOf(key);
        if (at < 0) at = lists.push(key) - 1;
        const member = JSON.stringify([p.from, p.on, String(now), ...Object.entries(p.entry.fields).flat()]);
        args.push(p.entry.id, String(4 + at), host, p.from, member);
      }
      const reply: unknown = await runScript(redis, PARK_LABELS, [stream, hosts, from, ...lists], args);
      const flags = Array.isArray(reply) ? reply : [];
      return entries.filter((_, i) => Number(flags[i]) === 1);
    },
    async due(now, max) {
      return redis.zrangebyscore(hosts, '-inf', now, 'LIMIT', 0, max);
    },
    async head(host) {
      const raw = await redis.lindex(list(host), 0);
      if (raw === null) return undefined;
      const member: unknown = JSON.parse(raw);
      if (!Array.isArray(member) || typeof member[1] !== 'string') return undefined;
      return { on: member[1], parkedAt: Number(member[2]) || Date.now() };
    },
    async reschedule(host, at) {
      await redis.zadd(hosts, 'XX', at, host);
    },
    async release(host, max) {
      const reply: unknown = await runScript(redis, RELEASE_LABELS, [list(host), stream, hosts, from], [String(max), host]);
      const [released, left] = Array.isArray(reply) ? reply.map(Number) : [0, 0];
      return { released: released ?? 0, left: left ?? 0 };
    },
    streamLength: () => redis.xlen(stream),
    async parkedFrom(labelerHost) {
      return Number((await redis.hget(from, labelerHost)) ?? 0);
    },
  };
}
