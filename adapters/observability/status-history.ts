// The status page's time series: every second (by default) one sample of the pipeline, kept in a ring of the last
// `capacity` samples in this process's memory. A sample is flat `{ series: value }`, named `<chart>:<line>`:
//   in:<host>            firehose events/s written to firehose_live, per relay
//   out:<stream>         entries/s its consumers settled as ok, per stream
//   length:<stream>      entries in the stream;  pending:<stream>  delivered, not acknowledged;  dlq:<stream>
//   latency:<stream>     mean ms per call of the stream's function since the previous sample
//   cursor:<host>        the stored cursor per host (firehose and labels)
//   sync:<state>         repos per repo_sync state
//   labels:<state>       labels in force, expired, negated (cached counts); labels:labels_stored, negations_stored
//   faults:<reason>      the problems the pipeline counted so far (firehose errors, label rejections, outage waits)
// Rates come from counter deltas between two samples, so the first sample has none.
import type { Registry } from 'prom-client';

export interface StatusSample {
  /** ms since the epoch. */
  t: number;
  series: Record<string, number>;
}

export interface StatusHistory {
  sample(): Promise<StatusSample>;
  samples(): readonly StatusSample[];
}

/** What the sampler reads of `skytide status` (adapters/observability/pipeline-status.ts). */
export interface StatusView {
  streams?: { stream: string; length: number; pending: number; dlq: number }[];
  cursors?: Record<string, string | number | null>;
  repoSync?: Record<string, number>;
  labels?: { inForce?: number; expired?: number; negated?: number };
}

type Counters = Map<string, number>;

async function readCounters(registry: Registry): Promise<Counters> {
  const out: Counters = new Map();
  for (const metric of await registry.getMetricsAsJSON()) {
    for (const v of metric.values) {
      const labels = Object.entries(v.labels).map(([k, x]) => `${k}=${String(x)}`).join(',');
      out.set(`${metric.name}{${labels}}`, Number(v.value));
    }
  }
  return out;
}

/** Sum of a counter's series whose labels match `where`, grouped by the value of label `by`. */
function groupBy(counters: Counters, name: string, by: string, where: Record<string, string> = {}): Map<string, number> {
  const out = new Map<string, number>();
  for (const [key, value] of counters) {
    if (!key.startsWith(`${name}{`)) continue;
    const labels = Object.fromEntries(key.slice(name.length + 1, -1).split(',').filter(Boolean).map((kv) => kv.split('=') as [string, string]));
    if (Object.entries(where).some(([k, v]) => labels[k] !== v)) continue;
    const group = labels[by] ?? '';
    out.set(group, (out.get(group) ?? 0) + value);
  }
  return out;
}

export function createStatusHistory(options: {
  registry: Registry;
  read: () => Promise<StatusView>;
  /** More series, named `<chart>:<line>` (the simulated network's `sim:*`). */
  extra?: () => Record<string, number>;
  capacity?: number;
  now?: () => number;
}): StatusHistory {
  const capacity = options.capacity ?? 600;
  const now = options.now ?? Date.now;
  const ring: StatusSample[] = [];
  let previous: { t: number; counters: Counters } | undefined;

  return {
    async sample() {
      const t = now();
      const [counters, status] = await Promise.all([readCounters(options.registry), options.read()]);
      const series: Record<string, number> = {};
      const seconds = previous === undefined ? 0 : (t - previous.t) / 1000;
      const rate = (name: string, by: string, prefix: string, where?: Record<string, string>) => {
        const nowBy = groupBy(counters, name, by, where);
        const before = previous === undefined ? undefined : groupBy(previous.counters, name, by, where);
        for (const [group, value] of nowBy) series[`${prefix}:${group}`] = seconds > 0 && before !== undefined ? Math.max(0, value - (before.get(group) ?? 0)) / seconds : 0;
      };
      rate('skytide_firehose_events_total', 'host', 'in');
      rate('skytide_label_entries_total', 'host', 'in');
      rate('skytide_consumer_entries_total', 'stream', 'out', { outcome: 'ok' });
      const calls = groupBy(counters, 'skytide_function_calls_total', 'stream');
      const spent = groupBy(counters, 'skytide_function_seconds_total', 'stream');
      for (const [stream, n] of calls) {
        const dn = n - (previous === undefined ? 0 : groupBy(previous.counters, 'skytide_function_calls_total', 'stream').get(stream) ?? 0);
        const ds = (spent.get(stream) ?? 0) - (previous === undefined ? 0 : groupBy(previous.counters, 'skytide_function_seconds_total', 'stream').get(stream) ?? 0);
        series[`latency:${stream}`] = dn > 0 ? (ds / dn) * 1000 : 0;
      }
      for (const s of status.streams ?? []) {
        series[`length:${s.stream}`] = s.length;
        series[`pending:${s.stream}`] = s.pending;
        series[`dlq:${s.stream}`] = s.dlq;
      }
      for (const [key, value] of Object.entries(status.cursors ?? {})) {
        const n = Number(value);
        if (Number.isFinite(n)) series[`cursor:${key.replace(/^.*:cursor:/, '')}`] = n;
      }
      for (const [state, n] of Object.entries(status.repoSync ?? {})) series[`sync:${state}`] = n;
      for (const state of ['inForce', 'expired', 'negated'] as const) series[`labels:${state}`] = status.labels?.[state] ?? 0;
      // The counts above are cached (their age is in the status); what the label function stored is live.
      for (const [outcome, n] of groupBy(counters, 'skytide_labels_total', 'outcome')) if (outcome === 'label' || outcome === 'negation') series[`labels:${outcome}s_stored`] = n;
      const faults = [
        ...groupBy(counters, 'skytide_firehose_errors_total', 'reason'),
        ...groupBy(counters, 'skytide_labels_rejected_total', 'reason'),
        ...[...groupBy(counters, 'skytide_outage_waits_total', 'dependency')].map(([d, n]) => [`outage_${d}`, n] as const),
        ...[...groupBy(counters, 'skytide_firehose_frames_total', 'kind', {})].filter(([k]) => k === 'invalid').map(([, n]) => ['invalid_frame', n] as const),
      ];
      for (const [reason, n] of faults) if (n > 0) series[`faults:${reason}`] = (series[`faults:${reason}`] ?? 0) + n;
      Object.assign(series, options.extra?.() ?? {});
      previous = { t, counters };
      const sample = { t, series };
      ring.push(sample);
      if (ring.length > capacity) ring.shift();
      return sample;
    },
    samples: () => ring,
  };
}
