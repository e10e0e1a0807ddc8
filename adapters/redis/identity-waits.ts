// The durable half of the firehose's identity waits (long-runners/firehose/identity-wait.ts), per host:
// - `firehose_live:waiting:<host>`: a hash, DID -> {since, on}: the DIDs whose frames wait for their identity.
// - `firehose_live:parked:<host>:<did>`: a list of that DID's frames, as read from the socket, oldest first.
// Promises: parking a frame is an op in the same MULTI as the batch's entries and cursor, so the cursor only ever
// passes frames that are in the stream or parked; releasing frames (their events written, the frames trimmed, the DID
// forgotten when none is left) is one atomic step too, and runs once even without a seq cursor: a release sent again
// after a reconnect that lost its reply would write the events twice and trim as many frames again, never released.
// So the release op carries a marker (`firehose_live:waiting:<host>:last_batch`, in the waiting hash's slot) and the
// batch holding it is a once-batch script (stream-writer.ts). All of it survives restarts and SIGKILL; process memory
// only mirrors it. Counting waiting DIDs is HLEN: O(1), cheap enough for /ready.
// With STREAM_SHARDS > 1 each shard has its own hash and lists (`firehose_live:{n}:waiting:<host>`), in the slot of the
// shard's stream and cursor, so parking rides in that shard's MULTI; a DID's keys follow its shard.
import type { Cluster, Redis } from 'ioredis';
import type { IdentityWait } from '../../functions/atproto/repo-frame-types.ts';
import { STREAMS, hostKey, lastBatchKey, type KeySpace } from './keys.ts';
import type { BatchOp } from './stream-writer.ts';
import type { RedisScript } from './scripts.ts';

export interface WaitRecord {
  /** When the DID started waiting (ms since the epoch). */
  since: number;
  on: IdentityWait;
}

export interface StoredWait extends WaitRecord {
  /** Frames parked for it. */
  parked: number;
}

const WAIT_KINDS: readonly string[] = ['plc', 'dns', 'postgres', 'redis', 'did', 'lookup'];

/**
 * KEYS: [1] the DID's parked list, [2] the waiting hash. ARGV: [1] frames released from the head, [2] the DID, [3] the
 * first of them, as read (each frame holds its seq, so it marks the place). Trims them and, when none is left, forgets
 * the DID; answers how many frames are still parked. Refuses (-1, nothing trimmed) when the head no longer holds the
 * frames read: another writer released them meanwhile (two adapters on one relay), and a trim by count would take
 * frames parked since, never written.
 */
export const RELEASE_PARKED: RedisScript = {
  name: 'skytideReleaseParked',
  numberOfKeys: 2,
  keyTypes: ['list', 'hash'],
  lua: `
local count = tonumber(ARGV[1])
if count > 0 and (redis.call('LLEN', KEYS[1]) < count or redis.call('LINDEX', KEYS[1], 0) ~= ARGV[3]) then return -1 end
redis.call('LTRIM', KEYS[1], count, -1)
local left = redis.call('LLEN', KEYS[1])
if left == 0 then redis.call('HDEL', KEYS[2], ARGV[2]) end
return left
`,
};

export interface IdentityWaitStore {
  /** Every waiting DID of this host with its record and parked count (at start-up: memory mirrors it afterwards). */
  load(): Promise<Map<string, StoredWait>>;
  /** Marks the DID as waiting. */
  startOp(did: string, record: WaitRecord): BatchOp;
  /** Appends a frame to the DID's parked list. */
  parkOp(did: string, frame: Uint8Array): BatchOp;
  /** Drops every frame parked for the DID (the DID keeps waiting). */
  discardOp(did: string): BatchOp;
  /** Up to `max` of the DID's oldest parked frames. */
  read(did: string, max: number): Promise<Uint8Array[]>;
  /**
   * Trims `count` released frames, `first` the first of them as `read` gave it; `onLeft` gets how many are still
   * parked (0: the DID no longer waits), or -1 when the head no longer holds them (nothing trimmed: another writer
   * released them). The batch holding it lands once; when its first run's reply was lost, `onLeft` is not called (the
   * next release of the DID, of what is still parked or of 0 frames, answers it).
   */
  releaseOp(did: string, count: number, first: Uint8Array | undefined, onLeft: (left: number) => void): BatchOp;
  /** How many DIDs wait on this host. */
  count(): Promise<number>;
}

function parseRecord(raw: string): WaitRecord | undefined {
  try {
    const v = JSON.parse(raw) as { since?: unknown; on?: unknown };
    if (typeof v.since !== 'number' || typeof v.on !== 'string' || !WAIT_KINDS.includes(v.on)) return undefined;
    return { since: v.since, on: v.on as IdentityWait };
  } catch {
    return undefined;
  }
}

export function createIdentityWaitStore(redis: Redis, keys: KeySpace, host: string): IdentityWaitStore {
  const waiting = (did: string) => keys.waiting(keys.shardFor(STREAMS.firehoseLive, did), host);
  const parked = (did: string) => keys.parked(keys.shardFor(STREAMS.firehoseLive, did), host, did);
  return {
    async load() {
      const out = new Map<string, StoredWait>();
      for (const shard of keys.shardsOf(STREAMS.firehoseLive)) {
        const all = await redis.hgetall(keys.waiting(shard, host));
        const dids = Object.keys(all);
        if (dids.length === 0) continue;
        // One pipeline per shard: on a cluster a pipeline's keys must share a slot.
        const pipeline = redis.pipeline();
        for (const did of dids) pipeline.llen(parked(did));
        const lengths = (await pipeline.exec()) ?? [];
        dids.forEach((did, i) => {
          // A record we cannot read still names a DID whose frames are parked: it waits, as for a lookup that failed.
          const record = parseRecord(all[did] ?? '') ?? { since: Date.now(), on: 'did' as const };
          const [err, n] = lengths[i] ?? [null, 0];
          if (err !== null) throw err;
          out.set(did, { ...record, parked: Number(n) });
        });
      }
      return out;
    },
    startOp: (did, record) => ({ kind: 'command', name: 'HSET', args: [waiting(did), did, JSON.stringify(record)] }),
    parkOp: (did, frame) => ({ kind: 'command', name: 'RPUSH', args: [parked(did), Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength)] }),
    discardOp: (did) => ({ kind: 'command', name: 'DEL', args: [parked(did)] }),
    async read(did, max) {
      const frames = await redis.lrangeBuffer(parked(did), 0, max - 1);
      return frames.map((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
    },
    releaseOp: (did, count, first, onLeft) => ({
      kind: 'script',
      script: RELEASE_PARKED,
      keys: [parked(did), waiting(did)],
      args: [String(count), did, count > 0 && first !== undefined ? Buffer.from(first.buffer, first.byteOffset, first.byteLength) : ''],
      onReply: (reply) => onLeft(Number(reply)),
      // One marker per host (and shard): its releases are written one batch at a time, by its one subscription.
      onceMarker: lastBatchKey(waiting(did)),
    }),
    count: () => countWaitingDids(redis, keys, host),
  };
}

/** How many DIDs wait for their identity on `host` (HLEN per shard: O(1) in the number of DIDs). */
export async function countWaitingDids(redis: Redis, keys: KeySpace, host: string): Promise<number> {
  const counts = await Promise.all(keys.shardsOf(STREAMS.firehoseLive).map((shard) => redis.hlen(keys.waiting(shard, host))));
  return counts.reduce((a, b) => a + b, 0);
}

/** Identity waits left under a relay host no longer configured: DIDs waiting, and the frames parked behind them. */
export interface UnconfiguredWaits {
  host: string;
  dids: number;
  frames: number;
}

/**
 * The waiting hashes of hosts not in `configured` (a relay removed from INGESTER_RELAY_HOSTS): nothing reads them
 * again, and their parked frames are events accepted (the cursor passed them) but not yet written. Found by SCAN of
 * `<stream>:waiting:*` on every primary, so it is for start-up only (the keyspace holds a key per repo), never a
 * status read; `beat` is called per SCAN reply. Reads only: nothing is changed.
 */
export async function findUnconfiguredWaits(redis: Redis, keys: KeySpace, configured: readonly string[], beat?: () => void): Promise<UnconfiguredWaits[]> {
  const known = new Set(configured.map(hostKey));
  const nodes: Redis[] = redis.isCluster ? (redis as unknown as Cluster).nodes('master') : [redis];
  const found = new Map<string, UnconfiguredWaits>();
  for (const shard of keys.shardsOf(STREAMS.firehoseLive)) {
    const prefix = keys.waiting(shard, '');
    const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, batch] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        beat?.();
        cursor = next;
        for (const key of batch) {
          const host = key.slice(prefix.length);
          if (host === '' || key.endsWith(':last_batch') || known.has(host) || (await node.type(key)) !== 'hash') continue;
          const dids = await node.hkeys(key);
          let frames = 0;
          for (const did of dids) frames += await redis.llen(keys.parked(shard, host, did));
          const sum = found.get(host) ?? { host, dids: 0, frames: 0 };
          found.set(host, { host, dids: sum.dids + dids.length, frames: sum.frames + frames });
        }
      } while (cursor !== '0');
    }
  }
  return [...found.values()].filter((w) => w.dids > 0);
}
