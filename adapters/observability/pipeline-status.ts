// What an operator asks first: how long each stream is, how much is pending or dead, where each cursor stands, and
// how many DIDs wait for their identity on each relay, and the labels in force (counted at most every few minutes). Read straight from Redis, so `skytide status`, `GET /` and the
// gauges agree with what the consumers see.
import type { Redis } from 'ioredis';
import type { SqlExecutor } from '../../functions/ports.ts';
import type { MetricsBundle } from './metrics.ts';
import { GROUPS, hostKey, STREAMS, type KeySpace } from '../redis/keys.ts';
import { countWaitingDids } from '../redis/identity-waits.ts';
import { createLabelStatesCache, type LabelStates } from '../postgres/label-states.ts';
import { silentLog, systemClock, type Clock, type Log } from '../../functions/ports.ts';

export interface StatusSources {
  redis: Redis;
  /** Made on first use: `skytide status` works before Postgres is set up. */
  sql: () => SqlExecutor;
  keys: KeySpace;
  /** The configured relays (INGESTER_RELAY_HOSTS). */
  hosts: readonly string[];
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
  /** Repos per sync state; absent when Postgres is not reachable from this command. */
  repoSync?: Record<string, number>;
  /** (src, uri, val) by the state of their newest label, counted at most every few minutes (`asOf`, `ageSeconds`). */
  labels?: LabelStates;
}

const GROUP_OF: Record<string, string> = {
  [STREAMS.firehoseLive]: GROUPS.firehose,
  [STREAMS.firehoseBackfill]: GROUPS.firehose,
  [STREAMS.labelLive]: GROUPS.label,
  [STREAMS.repoBackfill]: GROUPS.repoBackfill,
};

/** How many DIDs wait for their identity per relay: HLEN each, O(1) (for /ready as well as the status). */
export async function readIdentityWaits(s: Pick<StatusSources, 'redis' | 'keys' | 'hosts'>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const host of s.hosts) out[hostKey(host)] = await countWaitingDids(s.redis, s.keys, host);
  return out;
}

export function createStatusReader(r: StatusSources) {
  const labelStates = createLabelStatesCache({
    sql: { query: (text, params) => r.sql().query(text, params) },
    clock: r.clock ?? systemClock,
    log: (r.log ?? silentLog).child('status'),
  });
  const read = async (): Promise<PipelineStatus> => {
    const redis = r.redis;
    const streams: StreamStatus[] = [];
    for (const name of Object.values(STREAMS)) {
      const key = r.keys.stream(name);
      const [length, dlq] = await Promise.all([redis.xlen(key), redis.xlen(r.keys.dlq(name))]);
      let pending = 0;
      try {
        const summary = (await redis.xpending(key, GROUP_OF[name] ?? GROUPS.firehose)) as [number, ...unknown[]];
        pending = Number(summary[0]);
      } catch {
        // NOGROUP: no consumer has started on this stream yet, so nothing is pending.
      }
      streams.push({ stream: name, length, pending, dlq });
    }
    const cursors: Record<string, string> = {};
    let scan = '0';
    do {
      const [next, found] = await redis.scan(scan, 'MATCH', `${r.keys.stream('')}*:cursor:*`, 'COUNT', 500);
      scan = next;
      if (found.length > 0) {
        const values = await redis.mget(...found);
        found.forEach((k, i) => (cursors[k] = values[i] ?? ''));
      }
    } while (scan !== '0');
    const identityWaits = await readIdentityWaits(r);
    let repoSync: Record<string, number> | undefined;
    try {
      const rows = await r.sql().query<{ status: string; n: number }>(`select status, count(*)::int as n from repo_sync group by status`);
      repoSync = { synchronized: 0, desynchronized: 0, 'in-progress': 0, deleted: 0 };
      for (const row of rows) repoSync[row.status] = row.n;
    } catch {
      // No schema yet (before `skytide migrate`) or no database: the stream status still stands.
    }
    let labels: LabelStates | undefined;
    try {
      labels = await labelStates.read();
    } catch {
      // As for repoSync: no schema or no database yet.
    }
    return { streams, cursors, identityWaits, ...(repoSync === undefined ? {} : { repoSync }), ...(labels === undefined ? {} : { labels }) };
  };
  return {
    read,
    refreshGauges: async (gauges: MetricsBundle['gauges']) => {
      const s = await read();
      for (const st of s.streams) {
        gauges.streamLength.set({ stream: st.stream }, st.length);
        gauges.streamPending.set({ stream: st.stream }, st.pending);
      }
      for (const [status, n] of Object.entries(s.repoSync ?? {})) gauges.repoSync.set({ status }, n);
      for (const [host, n] of Object.entries(s.identityWaits)) gauges.identityWaitingDids.set({ host }, n);
      if (s.labels !== undefined) {
        gauges.labelStates.set({ state: 'in_force' }, s.labels.inForce);
        gauges.labelStates.set({ state: 'expired' }, s.labels.expired);
        gauges.labelStates.set({ state: 'negated' }, s.labels.negated);
        gauges.labelStatesAge.set(s.labels.ageSeconds);
      }
      for (const [key, value] of Object.entries(s.cursors)) {
        const match = /^(.*?firehose_live):cursor:(.+)$/.exec(key);
        if (match !== null && /^\d+$/.test(value)) gauges.firehoseCursor.set({ host: match[2] ?? '' }, Number(value));
      }
    },
  };
}
