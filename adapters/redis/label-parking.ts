// label_live entries parked while their label waits on its source's own host (a did:web host that does not answer:
// an outcome `wait` naming the source). Left pending in label_live they kept its length up, and at
// INGESTER_LABEL_HIGH_WATER_MARK every labeler's subscription paused: one labeler minting labels whose `src` is a
// did:web on a dead host stopped label ingestion from all. Parked, they leave the stream; the labeler that sent them is
// held on its own (parkedFrom, INGESTER_LABEL_PARKED_HIGH_WATER_MARK), the others read on.
// Keys, beside label_live (in its slot when tagged):
// - `label_live:parked:<source host>`: a list of that host's entries, oldest first, each a JSON array
//   [labeler host, source DID, parked at (ms), field, value, ...]. Entries whose labels are only not due yet wait in
//   `label_live:parked:due:<source DID>`, their `on` (functions/label/future-cts.ts, notDueOn) in place of the DID:
//   a sorted set scored by when each is due, so each is released once it is due. It used to be a list in arrival
//   order, released only from its head: a label due in a day parked before one due in minutes (a negation) held that
//   one for the day. Such a list left from before is made a set in place (dueSetOf) by the first script that parks
//   into it or releases it. The same key, not a new one: a process of the earlier version meets a set as a wrong type
//   and fails (its park refused, its check retried) rather than reading an empty list and unscheduling the source.
// - `label_live:parked_hosts`: a sorted set of those source hosts (`due:<source DID>` for the not-due ones), scored by
//   when each is to be checked again: a source's not-due entries, when its earliest is due.
// - `label_live:parked_from`: a hash, labeler host -> how many of its entries are parked (per-labeler backpressure);
//   recounted from the lists and sets (RECOUNT_PARKED) after members were set aside, since one may no longer name its
//   labeler.
// Promises: an entry is parked (pushed, counted, its host scheduled) in the same script that acknowledges and deletes
// it, and only while it is still pending for the group, so a park run again (ioredis resends it after a reconnect
// that lost its reply) finds nothing pending and writes nothing; nothing is parked twice or lost. A key of another
// type than the scripts need (made by hand) refuses a park whole before it writes anything (StreamWriteError).
// Releasing moves the head of a host's list back into label_live in one script (LTRIM them off, then XADD each), a
// source's due entries likewise (ZREM, then XADD each); run again it releases the next ones, never the same twice.
// Each script removes before it adds: at maxmemory Redis refuses a script's first write that could grow memory, not
// the rest of one that has written, so a park or a release (a move) goes through. Two not-due members
// that are the same bytes (the same label from the same labeler, parked in the same millisecond) are one member of
// the set, counted once. A host that is down is no verdict: no good entry is dropped or dead-lettered
// here. A member that is no entry at all (not JSON, truncated, not the array above: written by another version, or
// damaged) is the one exception: it can never be released, and left at the head of its list it failed the host's
// release on every tick for good, every good entry behind it with it. So the scripts that read members (HEAD_LABELS,
// RELEASE_LABELS) move such a member to label_live's DLQ (field `parked` = the member as stored, `reason`
// INVALID_PARKED_ENTRY, `attempts` 0, `error` what is wrong with it; rsky's field names), in the same script, and go
// on with the rest. All of it survives restarts; process memory holds none of it.
import type { Redis } from 'ioredis';
import { runScript } from './scripts.ts';
import { STREAMS, type KeySpace } from './keys.ts';
import type { StreamEntry } from './consumer-group.ts';
import { didWebHost } from '../../functions/atproto/syntax/did.ts';
import { NOT_DUE_PREFIX, parseNotDueOn } from '../../functions/label/future-cts.ts';
import type { Reason } from '../../functions/reasons.ts';
import { refuseWrongType, StreamWriteError } from './stream-writer.ts';
import { KEY_TYPES_LUA } from './lua/key-types.ts';
import { STORED_MEMBERS_LUA } from './lua/stored-members.ts';

/** The DLQ reason of a parked member that is no entry (see above). */
export const INVALID_PARKED_ENTRY: Reason = 'invalid_parked_entry';

/** Members HEAD_LABELS moves aside in one run at most: a list of nothing but damage is cleared over a few ticks. */
export const HEAD_SCAN_MAX = 1000;

/**
 * Lua shared by the scripts that read members (the shared checks: lua/stored-members.ts, lua/key-types.ts). entryOf:
 * a member's array {labeler host, source DID, parked at, field, value, ...}, or nil and what is wrong with it.
 * setAside: moves a member that is no entry to the DLQ (KEYS[dlq]), taking it off its labeler's count when its
 * labeler can still be read (a truncated member keeps its beginning; uncount). dueSetOf: makes a source's not-due list
 * from before a set in place, each member scored by the due time its `on` names (0 when it names none: released, or
 * set aside, at once); a member the set holds already (the same bytes twice) is uncounted, one member, one count.
 * refusedDueSet: refusedType for such a key, a list being a set still to make. The scripts check the types of the keys
 * they write (refusedType) before anything is written: a script's writes are not undone by a later error.
 */
const MEMBERS_LUA = `${KEY_TYPES_LUA}${STORED_MEMBERS_LUA}
local function entryOf(m)
  return stringArrayOf(m, 3, 'a labeler host, a source DID, a time and fields in pairs')
end
local function uncount(m, from)
  local labeler = string.match(m, '^%s*%[%s*"([^"]+)"')
  if labeler ~= nil and redis.call('HINCRBY', from, labeler, -1) <= 0 then redis.call('HDEL', from, labeler) end
end
local function setAside(m, problem, dlq, from, host)
  deadLetterMember(dlq, 'parked', m, '${INVALID_PARKED_ENTRY}',
    'parked label_live entry of source host ' .. host .. ' ' .. problem .. ': set aside so the rest of the host is released')
  uncount(m, from)
end
local function dueSetOf(key, from)
  if redis.call('TYPE', key)['ok'] ~= 'list' then return end
  local members = redis.call('LRANGE', key, 0, -1)
  redis.call('DEL', key)
  for _, m in ipairs(members) do
    local e = entryOf(m)
    local due = e and string.match(e[2], '^due:(%-?%d+):')
    if redis.call('ZADD', key, due or '0', m) == 0 then uncount(m, from) end
  end
end
-- Every member read before anything is written; each good one back into the stream and uncounted, each that is no
-- entry set aside to the DLQ. Answers how many were set aside and the first problem, or nil and the refusal of a DLQ
-- of another type (nothing written). takeOff removes the members from where they were parked, once the checks passed
-- and before the first write that could grow memory: Redis at maxmemory refuses a script's first such write, and lets
-- the rest of a script that has already written go on, so a move (taken off, then added) is not refused as growth.
local function releaseMembers(members, stream, counts, dlq, host, takeOff)
  local decoded, problems, aside, said = {}, {}, 0, ''
  for i, m in ipairs(members) do
    local e, problem = entryOf(m)
    decoded[i] = e or false
    if not e then
      problems[i] = problem
      aside = aside + 1
      if said == '' then said = problem end
    end
  end
  if aside > 0 then
    local refused = refusedType(dlq, 'stream')
    if refused then return nil, refused end
  end
  takeOff()
  for i, e in ipairs(decoded) do
    if e then
      redis.call('XADD', stream, '*', unpack(e, 4))
      if redis.call('HINCRBY', counts, e[1], -1) <= 0 then redis.call('HDEL', counts, e[1]) end
    else
      setAside(members[i], problems[i], dlq, counts, host)
    end
  end
  return aside, said
end
local function refusedDueSet(key)
  local t = wrongTypeOf(key, 'zset')
  if t and t ~= 'list' then return key .. ' is a ' .. t .. ', not a zset' end
  return nil
end
`;

/**
 * KEYS[1] = the stream, KEYS[2] = the parked hosts (sorted set), KEYS[3] = the per-labeler counts (hash), KEYS[4...] =
 * the parked lists and due sets. ARGV[1] = the group, ARGV[2] = the score of a host not yet scheduled, then per entry:
 * its id, the index in KEYS of its list (or set), its source host, its labeler host, the member, when it is due ('' for
 * an entry waiting on a host: it goes to a list, else to a set with that score and its source is scheduled no later
 * than the set's earliest). Each entry still pending is parked, acknowledged and deleted; answers, per entry, 1 when it
 * was parked by this run, else 0. Every key's type is checked first: one of another type (made by hand) answers '<key>
 * is a <type>, not a <want>' and nothing is written. Found at its write, the member pushed before it stood while its
 * entry stayed pending, and the park tried again pushed it a second time.
 */
export const PARK_LABELS = `${MEMBERS_LUA}
local refused = refusedType(KEYS[1], 'stream') or refusedType(KEYS[2], 'zset') or refusedType(KEYS[3], 'hash')
for a = 3, #ARGV, 6 do
  local key = KEYS[tonumber(ARGV[a + 1])]
  if ARGV[a + 5] == '' then refused = refused or refusedType(key, 'list') else refused = refused or refusedDueSet(key) end
end
if refused then return refused end
local stream, group = KEYS[1], ARGV[1]
local out = {}
for a = 3, #ARGV, 6 do
  local id, key, host, due = ARGV[a], KEYS[tonumber(ARGV[a + 1])], ARGV[a + 2], ARGV[a + 5]
  if #redis.call('XPENDING', stream, group, id, id, 1) > 0 then
    -- Off the stream first: at maxmemory Redis refuses a script's first write that could grow memory, not the rest of
    -- one that has written, so a park (a move) goes through and frees the stream instead of waiting for memory.
    redis.call('XACK', stream, group, id)
    redis.call('XDEL', stream, id)
    local added = 1
    if due == '' then
      redis.call('RPUSH', key, ARGV[a + 4])
      redis.call('ZADD', KEYS[2], 'NX', ARGV[2], host)
    else
      -- The source is checked when its earliest entry is due: this one, or one of a list just made a set.
      dueSetOf(key, KEYS[3])
      added = redis.call('ZADD', key, due, ARGV[a + 4])
      local first = redis.call('ZRANGEBYSCORE', key, '-inf', '+inf', 'WITHSCORES', 'LIMIT', 0, 1)[2]
      local at = redis.call('ZSCORE', KEYS[2], host)
      if not at or tonumber(first) < tonumber(at) then redis.call('ZADD', KEYS[2], first, host) end
    end
    if added == 1 then redis.call('HINCRBY', KEYS[3], ARGV[a + 3], 1) end
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out`;

/**
 * KEYS[1] = a host's parked list, KEYS[2] = the parked hosts, KEYS[3] = the per-labeler counts, KEYS[4] = the DLQ.
 * ARGV[1] = the source host, ARGV[2] = how many members to set aside at most. Sets aside the members at the head that
 * are no entry, then answers {set aside, their first problem, source DID, parked at} of the first good one, or
 * {set aside, problem} when none is left (`more` as the fifth element when HEAD_SCAN_MAX stopped it first), or
 * '<key> is a <type>, not a <want>' when a member would be set aside and the DLQ, the counts or the hosts have another
 * type than a stream, a hash and a sorted set (nothing written).
 */
export const HEAD_LABELS = `${MEMBERS_LUA}
local refused = refusedType(KEYS[4], 'stream') or refusedType(KEYS[3], 'hash') or refusedType(KEYS[2], 'zset')
local aside, said = 0, ''
while true do
  local m = redis.call('LINDEX', KEYS[1], 0)
  if not m then return {aside, said} end
  local e, problem = entryOf(m)
  if e then return {aside, said, e[2], e[3]} end
  if aside >= tonumber(ARGV[2]) then return {aside, said, '', '', 'more'} end
  if refused then return refused end
  redis.call('LPOP', KEYS[1])
  setAside(m, problem, KEYS[4], KEYS[3], ARGV[1])
  aside = aside + 1
  if said == '' then said = problem end
  if redis.call('LLEN', KEYS[1]) == 0 then redis.call('ZREM', KEYS[2], ARGV[1]) end
end`;

/**
 * KEYS[1] = a host's parked list, KEYS[2] = the stream, KEYS[3] = the parked hosts, KEYS[4] = the per-labeler counts,
 * KEYS[5] = the DLQ. ARGV[1] = how many to take at most, ARGV[2] = the source host. Every member is read before
 * anything is written (a script's writes are not undone by a later error): each entry goes back into the stream, each
 * member that is no entry to the DLQ. Answers {released, left, set aside, their first problem}, or '<key> is a
 * <type>, not a <want>' (nothing written) when the stream, the hosts or the counts have another type than a stream, a
 * sorted set and a hash, or the DLQ is not a stream and a member would go there. Found at its write, the entries
 * XADDed before it stood untrimmed, and each release tried again wrote them into the stream once more.
 */
export const RELEASE_LABELS = `${MEMBERS_LUA}
local refused = refusedType(KEYS[2], 'stream') or refusedType(KEYS[3], 'zset') or refusedType(KEYS[4], 'hash')
if refused then return refused end
local members = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
local aside, said = releaseMembers(members, KEYS[2], KEYS[4], KEYS[5], ARGV[2], function() redis.call('LTRIM', KEYS[1], #members, -1) end)
if aside == nil then return said end
local left = redis.call('LLEN', KEYS[1])
if left == 0 then redis.call('ZREM', KEYS[3], ARGV[2]) end
return {#members - aside, left, aside, said}`;

/**
 * KEYS[1] = a source's due set (a list from before: made a set first, dueSetOf), KEYS[2] = the stream, KEYS[3] = the
 * parked hosts, KEYS[4] = the per-labeler counts, KEYS[5] = the DLQ. ARGV[1] = now (ms), ARGV[2] = how many to take at
 * most, ARGV[3] = the source's host (`due:<src>`). Every member due at ARGV[1] (at most ARGV[2]), earliest first, goes
 * back into the stream (one that is no entry to the DLQ) and off the set, and the source is scheduled at its earliest
 * member left, or unscheduled when none is. Answers {released, left, set aside, their first problem}, or '<key> is a
 * <type>, not a <want>' when a key has another type (nothing written, but for a list made a set: whole on its own, the
 * same entries in a set).
 */
export const RELEASE_DUE_LABELS = `${MEMBERS_LUA}
local refused = refusedDueSet(KEYS[1]) or refusedType(KEYS[2], 'stream') or refusedType(KEYS[3], 'zset')
  or refusedType(KEYS[4], 'hash')
if refused then return refused end
dueSetOf(KEYS[1], KEYS[4])
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local aside, said = releaseMembers(members, KEYS[2], KEYS[4], KEYS[5], ARGV[3], function()
  for _, m in ipairs(members) do redis.call('ZREM', KEYS[1], m) end
end)
if aside == nil then return said end
local left = redis.call('ZCARD', KEYS[1])
if left == 0 then
  redis.call('ZREM', KEYS[3], ARGV[3])
else
  local first = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  redis.call('ZADD', KEYS[3], first[2], ARGV[3])
end
return {#members - aside, left, aside, said}`;

/**
 * KEYS[1] = the parked hosts, KEYS[2] = the per-labeler counts, KEYS[3...] = the parked lists of ARGV's hosts, in order
 * (a `due:` source's a set, or a list from before: read as its type says). Sets every labeler's count to the members
 * that name it, read as the scripts above take them off (a good member's labeler, else what setAside reads off its
 * beginning; none, none), so a member set aside that no longer names its labeler leaves no count behind. Answers
 * 'stale' when a scheduled host is not among ARGV's (parked since its caller listed them: nothing written), else how
 * far the counts were off in all.
 */
export const RECOUNT_PARKED = `${MEMBERS_LUA}
local listed = {}
for _, host in ipairs(ARGV) do listed[host] = true end
for _, host in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '+inf')) do
  if not listed[host] then return 'stale' end
end
local counts = {}
for i = 3, #KEYS do
  local set = redis.call('TYPE', KEYS[i])['ok'] == 'zset'
  for at = 0, (set and redis.call('ZCARD', KEYS[i]) or redis.call('LLEN', KEYS[i])) - 1, 1000 do
    local page = set and redis.call('ZRANGEBYSCORE', KEYS[i], '-inf', '+inf', 'LIMIT', at, 1000)
      or redis.call('LRANGE', KEYS[i], at, at + 999)
    for _, m in ipairs(page) do
      local labeler = string.match(m, '^%s*%[%s*"([^"]+)"')
      -- A backslash (92) is an escape: then a good member's labeler is what cjson reads.
      if labeler ~= nil and string.find(labeler, string.char(92), 1, true) then
        local e = entryOf(m)
        if e then labeler = e[1] end
      end
      if labeler ~= nil then counts[labeler] = (counts[labeler] or 0) + 1 end
    end
  end
end
local off = 0
local stored = redis.call('HGETALL', KEYS[2])
for i = 1, #stored, 2 do
  local labeler, was = stored[i], tonumber(stored[i + 1])
  local n = counts[labeler] or 0
  counts[labeler] = nil
  if n == 0 then redis.call('HDEL', KEYS[2], labeler) elseif was ~= n then redis.call('HSET', KEYS[2], labeler, n) end
  off = off + math.abs((was or 0) - n)
end
local missing = {}
for labeler in pairs(counts) do missing[#missing + 1] = labeler end
table.sort(missing)
for _, labeler in ipairs(missing) do
  redis.call('HSET', KEYS[2], labeler, counts[labeler])
  off = off + counts[labeler]
end
return off`;

/** Recounts RECOUNT_PARKED gives up after when hosts keep being parked between listing them and the script. */
const RECOUNT_TRIES = 5;

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

/** Parked members that were no entry, moved to the DLQ on the way (INVALID_PARKED_ENTRY). */
export interface SetAside {
  setAside: number;
  /** What was wrong with the first of them ('' when none). */
  problem: string;
}

/** A key the script needs has another type (the DLQ is not a stream): refused whole, nothing written. */
const refused = (reply: unknown): void => refuseWrongType('parked labels', reply);

/**
 * The host a waited-on DID lives on: a did:web's host (didWebHost, the host its document is fetched from; only a
 * resolvable did:web gets as far as a wait), in lower case; any other DID stands for itself. A label that waits to be
 * due (functions/label/future-cts.ts, notDueOn) is parked under `due:<its source>`: a set per source, each released by
 * its own due time, with no host to check (label-release.ts).
 */
export function waitHost(on: string): string {
  const notDue = parseNotDueOn(on);
  if (notDue !== undefined) return `${NOT_DUE_PREFIX}${notDue.src}`;
  return on.startsWith('did:web:') ? didWebHost(on).toLowerCase() : on;
}

/** Whether a parked host's list holds labels waiting to be due (released by time) rather than on a host. */
export function isNotDueHost(host: string): boolean {
  return host.startsWith(NOT_DUE_PREFIX);
}

export interface LabelParking {
  /**
   * Parks the entries (still pending for `group`), each acknowledged and deleted from the stream in the same step;
   * `firstCheckAt` schedules a host not already scheduled. Answers the entries this call parked.
   */
  park(group: string, entries: readonly ParkEntry[], firstCheckAt: number): Promise<ParkEntry[]>;
  /** Up to `max` source hosts due for a check at `now`. */
  due(now: number, max: number): Promise<string[]>;
  /**
   * What the host's oldest parked entry waits on, having set aside the members before it that are no entry (at most
   * HEAD_SCAN_MAX: `more` when it stopped there); `head` undefined when none is parked (the host is unscheduled then).
   */
  head(host: string): Promise<SetAside & { head?: ParkedHead; more: boolean }>;
  /** Checks the host again at `at`, if it is still scheduled (another release may have emptied it). */
  reschedule(host: string, at: number): Promise<void>;
  /** Moves up to `max` of the host's oldest parked entries back into the stream (members that are no entry to the DLQ). */
  release(host: string, max: number): Promise<SetAside & { released: number; left: number }>;
  /**
   * For a `due:<src>` host (isNotDueHost): moves up to `max` of its entries due at `now` back into the stream, earliest
   * first, whatever else is parked (members that are no entry to the DLQ), and schedules the host at its earliest entry
   * left (RELEASE_DUE_LABELS; a list parked by the earlier version is made a set first).
   */
  releaseDueAt(host: string, now: number, max: number): Promise<SetAside & { released: number; left: number }>;
  /** label_live's length (XLEN). */
  streamLength(): Promise<number>;
  /** Entries parked from one labeler host (HGET: O(1), cheap enough for every hold check). */
  parkedFrom(labelerHost: string): Promise<number>;
  /**
   * Sets every labeler's count to what its parked members say (RECOUNT_PARKED: reads every parked member, so only
   * after members were set aside, whose labeler may not be readable, and at start-up); answers how far they were off.
   */
  recount(): Promise<number>;
}

export function createLabelParking(redis: Redis, keys: KeySpace): LabelParking {
  const stream = keys.stream(STREAMS.labelLive);
  const list = (host: string) => keys.beside(STREAMS.labelLive, `:parked:${host}`);
  const hosts = keys.beside(STREAMS.labelLive, ':parked_hosts');
  const from = keys.beside(STREAMS.labelLive, ':parked_from');
  const dlq = keys.dlq(STREAMS.labelLive);
  return {
    async park(group, entries, firstCheckAt) {
      if (entries.length === 0) return [];
      const lists: string[] = [];
      const args: string[] = [group, String(firstCheckAt)];
      const now = Date.now();
      for (const p of entries) {
        const host = waitHost(p.on);
        const dueMs = parseNotDueOn(p.on)?.dueMs;
        const key = list(host);
        let at = lists.indexOf(key);
        if (at < 0) at = lists.push(key) - 1;
        const member = JSON.stringify([p.from, p.on, String(now), ...Object.entries(p.entry.fields).flat()]);
        args.push(p.entry.id, String(4 + at), host, p.from, member, dueMs === undefined ? '' : String(dueMs));
      }
      const reply: unknown = await runScript(redis, PARK_LABELS, [stream, hosts, from, ...lists], args);
      refused(reply);
      const flags = Array.isArray(reply) ? reply : [];
      return entries.filter((_, i) => Number(flags[i]) === 1);
    },
    async due(now, max) {
      return redis.zrangebyscore(hosts, '-inf', now, 'LIMIT', 0, max);
    },
    async head(host) {
      const reply: unknown = await runScript(redis, HEAD_LABELS, [list(host), hosts, from, dlq], [host, String(HEAD_SCAN_MAX)]);
      refused(reply);
      const [aside, problem, on, at, more] = Array.isArray(reply) ? reply : [];
      const setAside = Number(aside ?? 0);
      const found = typeof on === 'string' && on !== '' ? { head: { on, parkedAt: Number(at) || Date.now() } } : {};
      return { setAside, problem: String(problem ?? ''), more: more === 'more', ...found };
    },
    async reschedule(host, at) {
      await redis.zadd(hosts, 'XX', at, host);
    },
    async release(host, max) {
      const reply: unknown = await runScript(redis, RELEASE_LABELS, [list(host), stream, hosts, from, dlq], [String(max), host]);
      refused(reply);
      const [released, left, aside, problem] = Array.isArray(reply) ? reply : [];
      return { released: Number(released ?? 0), left: Number(left ?? 0), setAside: Number(aside ?? 0), problem: String(problem ?? '') };
    },
    async releaseDueAt(host, now, max) {
      const reply: unknown = await runScript(redis, RELEASE_DUE_LABELS, [list(host), stream, hosts, from, dlq], [String(now), String(max), host]);
      refused(reply);
      const [released, left, aside, problem] = Array.isArray(reply) ? reply : [];
      return { released: Number(released ?? 0), left: Number(left ?? 0), setAside: Number(aside ?? 0), problem: String(problem ?? '') };
    },
    streamLength: () => redis.xlen(stream),
    async parkedFrom(labelerHost) {
      return Number((await redis.hget(from, labelerHost)) ?? 0);
    },
    async recount() {
      for (let tries = 1; ; tries++) {
        const parked = await redis.zrangebyscore(hosts, '-inf', '+inf');
        const reply: unknown = await runScript(redis, RECOUNT_PARKED, [hosts, from, ...parked.map(list)], parked);
        if (typeof reply === 'number') return reply;
        if (tries >= RECOUNT_TRIES) throw new StreamWriteError(`parked labels: hosts kept being parked while ${tries} recounts ran`);
      }
    },
  };
}
