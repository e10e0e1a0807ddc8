// One continuity state per repo on the live stream, whatever the number of relays, connections or processes: the
// last rev and MST root accepted (`repo_state:<did>` = JSON {rev, data?}, expiring after REPO_STATE_TTL_MS without
// activity, so the set stays the size of the active network).
// Promises: the state is compared and set atomically inside the batch's MULTI (REPO_ADVANCE): a commit whose rev is
// not after the stored one writes nothing (stale_rev), so a lagging relay's replay can neither set the state back
// nor put its events in the stream a second time. The commit's events, its resync requests and the new state land
// together or not at all. Nothing is cached in process memory: the script reads the stored state, and commits
// earlier in the same MULTI are already stored when a later one is checked.
// A repo with no state yet is accepted and starts its chain (sync spec, "Commit validation").
// With shards the key is `repo_state:{n}:<did>`, in the slot of the DID's shard streams (keys.ts), since the script
// writes both.
import type { Redis } from 'ioredis';
import type { BatchOp } from './stream-writer.ts';
import type { RedisScript } from './scripts.ts';
import { createKeySpace, type KeySpace } from './keys.ts';

export interface RepoState {
  rev: string;
  data?: string;
}

/**
 * What is stored: a #sync marks the state it set, since the commit after it need not name its rev as `since`; the
 * script adds `inductive` once a commit of the repo carried `prevData` (kept from then on, until the state expires).
 */
interface StoredState extends RepoState {
  afterSync?: true;
  inductive?: true;
}

/** A state untouched this long is forgotten: the next commit of that repo starts a new chain. */
export const REPO_STATE_TTL_MS = 7 * 24 * 3600_000;

/** What the script answers for one commit or #sync. */
export const ADVANCE = { stale: 0, applied: 1, appliedAfterGap: 2, alreadyThere: 3, appliedAfterSinceGap: 4 } as const;
export type AdvanceResult = (typeof ADVANCE)[keyof typeof ADVANCE];

/**
 * KEYS: [1] repo state, [2] events stream, [3] resync stream (repo_backfill).
 * ARGV: [1] 'commit' | 'sync', [2] rev, [3] MST root or '', [4] prevData or '', [5] TTL in ms, [6] the new state as
 * JSON, [7] a repo_backfill entry (`repo` field) for a prevData gap (commit) or for the #sync itself, or '',
 * [8] the commit's `since` or '', [9] a repo_backfill entry for a `since` gap or '',
 * [10..] pairs of stream ('1' events as field `event`, '2' resync stream as field `repo`) and value.
 * A commit needs a rev after the stored one (TIDs compare bytewise: Lua's `<` follows the locale, so it is not used);
 * a prevData that is not the stored root is a gap (entry [7] written, answer 2); otherwise a `since` that is not the
 * stored rev is one too (sync spec: "check the since value ... mark the repo as out-of-sync"; entry [9] written,
 * answer 4), unless the state was set by a #sync (the commit after it names the commit before it, which we never
 * saw) or the commit's `since` is null. Neither `prevData` nor `since` is signed: once a repo's commits have carried
 * `prevData` (the state is `inductive`), a commit without it is a gap too (a relay that strips it, with an op or with
 * a whole commit before, would otherwise pass unseen: indigo's relay refuses such a commit), and so is a null `since`.
 * A #sync that states exactly the stored rev and root changes nothing (answer 3); one not after the stored rev is
 * stale (sync spec: "ignore #commit and #sync events with a rev lower or equal"); one at a later rev on the stored
 * root (a PDS's key rotation makes an empty commit, then a #sync) moves the state and queues nothing (answer 3);
 * otherwise its entry [7] is written and the chain restarts from it.
 */
export const REPO_ADVANCE: RedisScript = {
  name: 'skytideRepoAdvance',
  numberOfKeys: 3,
  keyTypes: ['string', 'stream', 'stream'],
  lua: `
local function before(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local rev, data, prevData, since = ARGV[2], ARGV[3], ARGV[4], ARGV[8]
local lastRev, lastData, afterSync, inductive
local stored = redis.call('GET', KEYS[1])
if stored then
  local ok, state = pcall(cjson.decode, stored)
  if ok and type(state) == 'table' and type(state.rev) == 'string' then
    lastRev = state.rev
    if type(state.data) == 'string' then lastData = state.data end
    afterSync = state.afterSync == true
    inductive = state.inductive == true
  end
end
local status = 1
if ARGV[1] == 'sync' then
  if lastRev == rev and data ~= '' and lastData == data then return 3 end
  if lastRev and not before(lastRev, rev) then return 0 end
  if data ~= '' and lastData == data then
    status = 3
  elseif ARGV[7] ~= '' then
    redis.call('XADD', KEYS[3], '*', 'repo', ARGV[7])
  end
else
  if lastRev and not before(lastRev, rev) then return 0 end
  if lastData and prevData ~= lastData and (prevData ~= '' or inductive) then
    status = 2
    if ARGV[7] ~= '' then redis.call('XADD', KEYS[3], '*', 'repo', ARGV[7]) end
  elseif lastRev and not afterSync and since ~= lastRev and (since ~= '' or inductive) then
    status = 4
    if ARGV[9] ~= '' then redis.call('XADD', KEYS[3], '*', 'repo', ARGV[9]) end
  end
end
local newState = ARGV[6]
if inductive or (ARGV[1] == 'commit' and prevData ~= '') then newState = string.sub(newState, 1, -2) .. ',"inductive":true}' end
for i = 10, #ARGV, 2 do
  if ARGV[i] == '1' then
    redis.call('XADD', KEYS[2], '*', 'event', ARGV[i + 1])
  else
    redis.call('XADD', KEYS[3], '*', 'repo', ARGV[i + 1])
  end
end
redis.call('SET', KEYS[1], newState, 'PX', ARGV[5])
return status
`,
};

export interface Advance {
  mode: 'commit' | 'sync';
  rev: string;
  data?: string;
  prevData?: string | null;
  /** The rev the commit says it follows (null: none given). */
  since?: string | null;
  /** Full keys of the events stream (firehose_live) and the resync stream (repo_backfill). */
  streams: { events: string; resync: string };
  /** `event` JSON for the events stream and `repo` JSON for the resync stream, written only when the rev advances. */
  entries: readonly { to: 'events' | 'resync'; value: string }[];
  /** The `repo` JSON queued on a prevData gap (commit) or for the #sync. */
  resync?: string;
  /** The `repo` JSON queued on a `since` gap (commit). */
  sinceResync?: string;
}

export interface RepoStateStore {
  key(did: string): string;
  /** The MULTI op that moves `did` forward and writes the entries, or writes nothing; `onResult` gets the verdict. */
  advance(did: string, change: Advance, onResult: (result: AdvanceResult) => void): BatchOp;
  /** The stored state, for tools and tests; the live checks never read it outside the script. */
  get(did: string): Promise<RepoState | undefined>;
}

/** `keys`: the deployment's key space, or just its prefix (one shard, one Redis). */
export function createRepoStateStore(redis: Redis, keys: KeySpace | string, options: { ttlMs?: number } = {}): RepoStateStore {
  const ttlMs = options.ttlMs ?? REPO_STATE_TTL_MS;
  const space = typeof keys === 'string' ? createKeySpace(keys) : keys;
  const key = (did: string) => space.repoState(did);
  return {
    key,
    advance(did, c, onResult) {
      const state: StoredState = c.data === undefined ? { rev: c.rev } : { rev: c.rev, data: c.data };
      if (c.mode === 'sync') state.afterSync = true;
      const args: string[] = [c.mode, c.rev, c.data ?? '', c.prevData ?? '', String(ttlMs), JSON.stringify(state), c.resync ?? '', c.since ?? '', c.sinceResync ?? ''];
      for (const e of c.entries) args.push(e.to === 'events' ? '1' : '2', e.value);
      return {
        kind: 'script',
        script: REPO_ADVANCE,
        keys: [key(did), c.streams.events, c.streams.resync],
        args,
        onReply: (reply) => onResult(Number(reply) as AdvanceResult),
      };
    },
    async get(did) {
      const raw = await redis.get(key(did));
      if (raw === null) return undefined;
      try {
        const parsed = JSON.parse(raw) as unknown;
        if (typeof parsed !== 'object' || parsed === null || typeof (parsed as RepoState).rev !== 'string') return undefined;
        const { rev, data } = parsed as RepoState;
        return typeof data === 'string' ? { rev, data } : { rev };
      } catch {
        return undefined;
      }
    },
  };
}
