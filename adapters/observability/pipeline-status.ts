// What an operator asks first: how long each stream is, how much is pending or dead, where each cursor stands, and
// how many DIDs wait for their identity on each relay, how many labels each labeler has parked (the gauges too, read here
// rather than by a scan of their own), and repos per sync state and the labels in force (both counted
// at most every minute or few minutes, with their age). Read straight from Redis, so `skytide status`, `GET /` and
// the gauges agree with what the consumers see.
// Promise: a read costs O(1) in the size of the network: a fixed number of commands per stream shard and per
// configured host (XLEN, XPENDING summary, GET, HLEN, HGET, SCARD), never a SCAN of the keyspace (which holds a key per repo), and
// Postgres counts come from caches with a stated age, never a count(*) per read.
import type { Redis } from 'ioredis';
import type { SqlExecutor } from '../../functions/ports.ts';
import type { MetricsBundle } from './metrics.ts';
import { GROUPS, hostKey, STREAMS, sweepSkippedKey, type KeySpace } from '../redis/keys.ts';
import { countWaitingDids } from '../redis/identity-waits.ts';
import { createLabelParking } from '../redis/label-parking.ts';
import { UNKNOWN_HOST } from '../../functions/label/entry.ts';
import { createLabelStatesCache, type LabelStates } from '../postgres/label-states.ts';
import { createRepoSyncStatesCache } from '../postgres/repo-sync-states.ts';
import { silentLog, systemClock, type Clock, type Log } from '../../functions/ports.ts';

export interface StatusSources {
  redis: Redis;
  /** Made on first use: `skytide status` works before Postgres is set up. */
  sql: () => SqlExecutor;
  keys: KeySpace;
  /** The configured relays (INGESTER_RELAY_HOSTS). */
  hosts: readonly string[];
  /** The configured labelers (INGESTER_LABELER_HOSTS), whose label_live cursors are shown. */
  labelerHosts?: readonly string[];
  clock?: Clock;
  log?: Log;
}

export interface StreamStatus {
  stream: string;
  length: number;
  pending: number;
  dlq: number;
}

export interface PipelineStatus {
  streams: StreamStatus[];
  cursors: Record<string, string>;
  /** DIDs whose frames wait for their identity, per relay (host without scheme). */
  identityWaits: Record<string, number>;
  /**
   * listRepos ranges a sweep skipped that no retry has listed yet, per relay (host without scheme): SCARD of
   * `repo_backfill:skipped:<host>`. Each pass retries them once it reaches the end of the listing.
   */
  sweepSkipped: Record<string, number>;
  /**
   * label_live entries parked while their source's did:web host does not answer, per configured labeler (host without
   * scheme): at INGESTER_LABEL_PARKED_HIGH_WATER_MARK its subscription is held. `unknown`, when not 0: entries that
   * name no labeler host (trusted sources' labels written by the TypeScript pipeline), held to the same mark.
   */
  labelsParked: Record<string, number>;
  /** Repos per sync state; absent when Postgres is not reachable from this command. */
  repoSync?: Record<string, number>;
  /** When the repoSync counts were taken (they are cached, at most a minute old unless Postgres is slow). */
  repoSyncAge?: { asOf: string; ageSeconds: number };
  /** (src, uri, val) by the state of their newest label, counted at most every few minutes (`asOf`, `ageSeconds`). */
  labels?: LabelStates;
}

const GROUP_OF: Record<string, string> = {
  [STREAMS.firehoseLive]: GROUPS.firehose,
  [STREAMS.firehoseBackfill]: GROUPS.firehose,
  [STREAMS.labelLive]: GROUPS.label,
  [STREAMS.repoBackfill]: GROUPS.repoBackfill,
};

/** How many DIDs wait for their identity per relay: HLEN per shard, O(1) (for /ready as well as the status). */
export async function readIdentityWaits(s: Pick<StatusSources, 'redis' | 'keys' | 'hosts'>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const host of s.hosts) out[hostKey(host)] = await countWaitingDids(s.redis, s.keys, host);
  return out;
}

/** The cursor keys a deployment writes: per relay its firehose cursor (per shard) and sweep cursor, per labeler one. */
function cursorKeys(s: StatusSources): { key: string; host: string; kind: 'firehose' | 'sweep' | 'labels' }[] {
  const out: { key: string; host: string; kind: 'firehose' | 'sweep' | 'labels' }[] = [];
  for (const host of s.hosts) {
    for (const shard of s.keys.shardsOf(STREAMS.firehoseLive)) out.push({ key: s.keys.cursor(shard, host), host: hostKey(host), kind: 'firehose' });
    out.push({ key: s.keys.cursor(STREAMS.repoBackfill, host), host: hostKey(host), kind: 'sweep' });
  }
  for (const host of s.labelerHosts ?? []) out.push({ key: s.keys.cursor(STREAMS.labelLive, host), host: hostKey(host), kind: 'labels' });
  return out;
}

export function createStatusReader(r: StatusSources) {
  const clock = r.clock ?? systemClock;
  const log = (r.log ?? silentLog).child('status');
  const sql: SqlExecutor = { query: (text, params) => r.sql().query(text, params) };
  const labelStates = createLabelStatesCache({ sql, clock, log });
  const repoSyncStates = createRepoSyncStatesCache({ sql, clock, log });
  /** Per logical stream: its shards' lengths and pending counts, summed (what the gauges show). */
  let totals = new Map<string, { length: number; pending: number }>();
  /** Per relay: the lowest of its shards' cursors, where its adapter resumes. */
  let firehoseCursors = new Map<string, number>();
  /** Per labeler: its label_live cursor. */
  let labelCursors = new Map<string, number>();
  /** Per labeler, and `unknown` even at 0: the parked count the gauge shows (the status leaves a zero `unknown` out). */
  let parkedCounts = new Map<string, number>();
  const read = async (): Promise<PipelineStatus> => {
    const redis = r.redis;
    const streams: StreamStatus[] = [];
    const sums = new Map<string, { length: number; pending: number }>();
    for (const name of Object.values(STREAMS)) {
      const sum = { length: 0, pending: 0 };
      for (const shard of r.keys.shardsOf(name)) {
        const key = r.keys.stream(shard);
        const [length, dlq] = await Promise.all([redis.xlen(key), redis.xlen(r.keys.dlq(shard))]);
        let pending = 0;
        try {
          const summary = (await redis.xpending(key, GROUP_OF[name] ?? GROUPS.firehose)) as [number, ...unknown[]];
          pending = Number(summary[0]);
        } catch {
          // NOGROUP: no consumer has started on this stream yet, so nothing is pending.
        }
        streams.push({ stream: shard, length, pending, dlq });
        sum.length += length;
        sum.pending += pending;
      }
      sums.set(name, sum);
    }
    totals = sums;
    // One GET per known cursor key (GETs, not MGET: on a cluster the keys live in different slots).
    const known = cursorKeys(r);
    const values = await Promise.all(known.map((k) => redis.get(k.key)));
    const cursors: Record<string, string> = {};
    const lowest = new Map<string, number>();
    const labelSeqs = new Map<string, number>();
    known.forEach((k, i) => {
      const value = values[i];
      if (value === null || value === undefined) return;
      cursors[k.key] = value;
      if (!/^\d+$/.test(value)) return;
      if (k.kind === 'firehose') lowest.set(k.host, Math.min(lowest.get(k.host) ?? Infinity, Number(value)));
      if (k.kind === 'labels') labelSeqs.set(k.host, Number(value));
    });
    firehoseCursors = lowest;
    labelCursors = labelSeqs;
    const identityWaits = await readIdentityWaits(r);
    const sweepSkipped: Record<string, number> = {};
    for (const host of r.hosts) sweepSkipped[hostKey(host)] = await redis.scard(sweepSkippedKey(r.keys, host));
    const parking = createLabelParking(redis, r.keys);
    const labelsParked: Record<string, number> = {};
    for (const host of r.labelerHosts ?? []) labelsParked[hostKey(host)] = await parking.parkedFrom(hostKey(host));
    // Entries that name no labeler (the pipelines before us wrote none) are parked under `unknown`: shown once there are any.
    const unknown = await parking.parkedFrom(UNKNOWN_HOST);
    parkedCounts = new Map([...Object.entries(labelsParked), [UNKNOWN_HOST, unknown]]);
    if (unknown > 0) labelsParked[UNKNOWN_HOST] = unknown;
    let repoSync: Record<string, number> | undefined;
    let repoSyncAge: { asOf: string; ageSeconds: number } | undefined;
    try {
      const states = await repoSyncStates.read();
      repoSync = states.counts;
      repoSyncAge = { asOf: states.asOf, ageSeconds: states.ageSeconds };
    } catch {
      // No schema yet (before `skytide migrate`) or no database: the stream status still stands.
    }
    let labels: LabelStates | undefined;
    try {
      labels = await labelStates.read();
    } catch {
      // As for repoSync: no schema or no database yet.
    }
    return {
      streams, cursors, identityWaits, sweepSkipped, labelsParked,
      ...(repoSync === undefined ? {} : { repoSync, repoSyncAge }),
      ...(labels === undefined ? {} : { labels }),
    };
  };
  return {
    read,
    refreshGauges: async (gauges: MetricsBundle['gauges']) => {
      const s = await read();
      for (const [stream, t] of totals) {
        gauges.streamLength.set({ stream }, t.length);
        gauges.streamPending.set({ stream }, t.pending);
      }
      for (const [status, n] of Object.entries(s.repoSync ?? {})) gauges.repoSync.set({ status }, n);
      if (s.repoSyncAge !== undefined) gauges.repoSyncAge.set(s.repoSyncAge.ageSeconds);
      for (const [host, n] of Object.entries(s.identityWaits)) gauges.identityWaitingDids.set({ host }, n);
      for (const [host, n] of Object.entries(s.sweepSkipped)) gauges.sweepSkippedRanges.set({ host }, n);
      if (s.labels !== undefined) {
        gauges.labelStates.set({ state: 'in_force' }, s.labels.inForce);
        gauges.labelStates.set({ state: 'expired' }, s.labels.expired);
        gauges.labelStates.set({ state: 'negated' }, s.labels.negated);
        gauges.labelStatesAge.set(s.labels.ageSeconds);
      }
      for (const [host, seq] of firehoseCursors) gauges.firehoseCursor.set({ host }, seq);
      for (const [host, seq] of labelCursors) gauges.labelCursor.set({ host }, seq);
      for (const [host, n] of parkedCounts) gauges.parkedLabels.set({ host }, n);
    },
  };
}
