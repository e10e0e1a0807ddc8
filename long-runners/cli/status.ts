// What an operator asks first: how long each stream is, how much is pending or dead, and where each cursor stands.
// Read straight from Redis, so `skytide status` and `GET /` agree with what the consumers see.
import type { Resources } from './resources.ts';
import type { MetricsBundle } from '../../adapters/observability/metrics.ts';
import { GROUPS, STREAMS } from '../../adapters/redis/keys.ts';

export interface StreamStatus {
  stream: string;
  length: number;
  pending: number;
  dlq: number;
}

export interface PipelineStatus {
  streams: StreamStatus[];
  cursors: Record<string, string>;
  /** Repos per sync state; absent when Postgres is not reachable from this command. */
  repoSync?: Record<string, number>;
}

const GROUP_OF: Record<string, string> = {
  [STREAMS.firehoseLive]: GROUPS.firehose,
  [STREAMS.firehoseBackfill]: GROUPS.firehose,
  [STREAMS.labelLive]: GROUPS.label,
  [STREAMS.repoBackfill]: GROUPS.repoBackfill,
};

export function createStatusReader(r: Resources) {
  const read = async (): Promise<PipelineStatus> => {
    const redis = r.redis();
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
    let repoSync: Record<string, number> | undefined;
    try {
      const rows = await r.sql().query<{ status: string; n: number }>(`select status, count(*)::int as n from repo_sync group by status`);
      repoSync = { synchronized: 0, desynchronized: 0, 'in-progress': 0, deleted: 0 };
      for (const row of rows) repoSync[row.status] = row.n;
    } catch {
      // No schema yet (before `skytide migrate`) or no database: the stream status still stands.
    }
    return repoSync === undefined ? { streams, cursors } : { streams, cursors, repoSync };
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
      for (const [key, value] of Object.entries(s.cursors)) {
        const match = /^(.*?firehose_live):cursor:(.+)$/.exec(key);
        if (match !== null && /^\d+$/.test(value)) gauges.firehoseCursor.set({ host: match[2] ?? '' }, Number(value));
      }
    },
  };
}
