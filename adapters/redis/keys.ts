// Stream, group and cursor names. They follow rsky (README.md, Contracts) so a team can switch over; an
// optional prefix namespaces a deployment (and each test file) on a shared Redis.
// Past one machine (STREAM_SHARDS, REDIS_CLUSTER_NODES): the firehose streams (firehose_live, firehose_backfill,
// repo_backfill) are split into `<name>:{n}` by a hash of the DID, so one repo's events stay in order in one shard,
// and every key a MULTI writes together with a shard's stream (its cursor per host, its identity waits, its DLQ, the
// continuity state of its repos) carries the shard's hash tag `{n}`: a MULTI or a script cannot span Redis Cluster
// slots. A stream that is not split (label_live) keeps its name, and its companions take the whole stream key as
// their tag (`{label_live}:cursor:<host>`, `{label_live}_dlq`). With one shard and one Redis (the default) nothing is
// tagged and every key is today's (and rsky's). The prefix must not contain `{`: it would become every key's tag.

export const STREAMS = {
  firehoseLive: 'firehose_live',
  firehoseBackfill: 'firehose_backfill',
  repoBackfill: 'repo_backfill',
  labelLive: 'label_live',
} as const;

/** The streams split into shards by DID; label_live stays one stream. */
export const SHARDED_STREAMS: readonly string[] = [STREAMS.firehoseLive, STREAMS.firehoseBackfill, STREAMS.repoBackfill];

export const GROUPS = {
  firehose: 'firehose_group',
  label: 'label_group',
  repoBackfill: 'repo_backfill_group',
} as const;

/** `!ingester-done` marks a listRepos sweep that completed (rsky and TS sentinel). */
export const SWEEP_DONE = '!ingester-done';

export interface KeySpace {
  /** STREAM_SHARDS: how many shards each sharded stream has (1: not split). */
  readonly shards: number;
  /** Whether keys carry hash tags: more than one shard, or a Redis Cluster. */
  readonly tagged: boolean;
  /** Full key of a stream: a logical name (label_live) or a shard's name (`firehose_live:{2}`). */
  stream(name: string): string;
  dlq(stream: string): string;
  cursor(stream: string, host: string): string;
  /** `<stream>:waiting:<host>`: a hash of the DIDs whose frames wait for their identity on this host (ours, not rsky's). */
  waiting(stream: string, host: string): string;
  /** `<stream>:parked:<host>:<did>`: a list of that DID's waiting frames, oldest first (ours, not rsky's). */
  parked(stream: string, host: string, did: string): string;
  /**
   * `<stream>:lease:<host>`: the lease of the one subscription that writes a host's frames into this stream (a relay's
   * into firehose_live, its first shard's name when split; a labeler's into label_live), in the stream's slot.
   */
  lease(stream: string, host: string): string;
  /** A key kept beside a stream (`<stream><suffix>`), in the stream's slot when tagged. */
  beside(stream: string, suffix: string): string;
  /** The names (unprefixed) a logical stream is stored under: itself, or one per shard. */
  shardsOf(name: string): string[];
  /** The shard of a DID, 0 ≤ n < shards. */
  shardOf(did: string): number;
  /** The name (unprefixed) of the shard of `name` that holds `did`'s entries; `name` itself when not sharded. */
  shardFor(name: string, did: string): string;
  /** `repo_state:<did>` (`repo_state:{n}:<did>` when tagged): the continuity state of a repo, in its shard's slot. */
  repoState(did: string): string;
}

/** `repo_backfill:skipped:<host>`: the listRepos ranges a host's sweeps skipped (functions/sweep-skipped.ts). */
export function sweepSkippedKey(keys: KeySpace, host: string): string {
  return keys.beside(STREAMS.repoBackfill, `:skipped:${hostKey(host)}`);
}

/** `https://relay.example/` and `relay.example` share one cursor key: the host without scheme or trailing slash. */
export function hostKey(host: string): string {
  return host.replace(/^[a-z]+:\/\//i, '').replace(/\/+$/, '');
}

/**
 * The shard of a DID: FNV-1a (32 bits) of its bytes, then murmur3's finalizer (FNV-1a's low bits depend only on the
 * bytes' low bits, which would skew a power-of-two shard count), modulo the count. Simple enough for every process
 * and language to compute the same shard. DIDs are ASCII.
 */
export function didShard(did: string, shards: number): number {
  return shards <= 1 ? 0 : didHash(did) % shards;
}

/** FNV-1a (32 bits) of a DID's bytes from `basis` (FNV's own by default: the shard hash), then murmur3's finalizer. */
export function didHash(did: string, basis = 0x811c9dc5): number {
  let h = basis;
  for (let i = 0; i < did.length; i++) {
    h = Math.imul((h ^ (did.charCodeAt(i) & 0xff)) >>> 0, 0x01000193) >>> 0;
  }
  h = Math.imul((h ^ (h >>> 16)) >>> 0, 0x85ebca6b) >>> 0;
  h = Math.imul((h ^ (h >>> 13)) >>> 0, 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * The token of the last once-batch (once-batch-script.ts) guarded by `key`, beside it: in its slot (its hash tag, when
 * it has one). `key` is a seq cursor (a batch written with it), or a host's waiting hash (a batch that releases parked
 * frames of that host's DIDs without a seq cursor: identity-waits.ts).
 */
export function lastBatchKey(key: string): string {
  return `${key}:last_batch`;
}

/** The Redis Cluster hash tag of a key: what is between its first `{` and the next `}` if not empty, else the key. */
export function hashTag(key: string): string {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) return key.slice(open + 1, close);
  }
  return key;
}

export interface KeySpaceOptions {
  /** STREAM_SHARDS (default 1). */
  shards?: number;
  /** Keys must be tagged even with one shard: the connection is a Redis Cluster. */
  cluster?: boolean;
}

export function createKeySpace(prefix = '', options: KeySpaceOptions = {}): KeySpace {
  const shards = Math.max(1, options.shards ?? 1);
  const tagged = shards > 1 || options.cluster === true;
  const p = (name: string) => `${prefix}${name}`;
  /** A key that lives beside a stream: in its slot when tagged (a shard's tag, or the whole stream key as the tag). */
  const beside = (stream: string, suffix: string) => {
    const key = p(stream);
    return tagged && !key.includes('{') ? `{${key}}${suffix}` : `${key}${suffix}`;
  };
  const sharded = (name: string) => tagged && SHARDED_STREAMS.includes(name);
  const shardOf = (did: string) => didShard(did, shards);
  return {
    shards,
    tagged,
    stream: (name) => p(name),
    beside,
    dlq: (stream) => beside(stream, '_dlq'),
    cursor: (stream, host) => beside(stream, `:cursor:${hostKey(host)}`),
    waiting: (stream, host) => beside(stream, `:waiting:${hostKey(host)}`),
    lease: (stream, host) => beside(stream, `:lease:${hostKey(host)}`),
    parked: (stream, host, did) => beside(stream, `:parked:${hostKey(host)}:${did}`),
    shardsOf: (name) => (sharded(name) ? Array.from({ length: shards }, (_, n) => `${name}:{${n}}`) : [name]),
    shardOf,
    shardFor: (name, did) => (sharded(name) ? `${name}:{${shardOf(did)}}` : name),
    repoState: (did) => (tagged ? p(`repo_state:{${shardOf(did)}}:${did}`) : p(`repo_state:${did}`)),
  };
}
