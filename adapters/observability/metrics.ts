// The Prometheus registry and the Metrics port. Every counter is registered with every known label combination at
// zero on start-up, so a dashboard or alert sees `0`, not "no data", before the first failure (jetstream's lesson).
import { Counter, Gauge, Registry } from 'prom-client';
import type { CounterName, Metrics } from '../../functions/ports.ts';
import { REASONS } from '../../functions/reasons.ts';
import { LABEL_REJECTIONS, TRUST_REASONS } from '../../functions/label/verify-label.ts';
import { UNKNOWN_HOST } from '../../functions/label/entry.ts';
import { DEPENDENCIES } from '../../functions/errors.ts';
import { RECORD_FAMILIES } from '../../functions/index/plugins/types.ts';
import { SWEEP_PROBLEMS } from '../xrpc/list-repos.ts';
import { HTTP_REFUSALS, REFUSING_ROUTES } from '../http/refusals.ts';
import { REPO_SYNC_STATES } from '../postgres/repo-sync-states.ts';

/** Label values known at start-up that depend on configuration. */
export interface MetricDimensions {
  hosts: readonly string[];
  streams: readonly string[];
  /** INGESTER_LABELER_HOSTS without scheme. */
  labelHosts?: readonly string[];
  /** LABEL_TRUSTED_SOURCES: the sources known before any label arrives. */
  labelSources?: readonly string[];
  /**
   * Which state gauges /metrics shows, by where their value comes from: a status reader at scrape time
   * (pipeline-status.ts), `redis` (stream lengths, cursors, identity waits, parked labels) and `postgres` (repo_sync and
   * label counts), or the process itself, `process` (its readiness, its subscriptions' sockets); default all three. A
   * process that cannot read a source leaves its gauges out: never refreshed, they would claim 0 repos synchronized,
   * counted 0 seconds ago, whatever the database holds. The Worker shows none; a `run --only firehose` or `labels`
   * process has no Postgres.
   */
  stateGauges?: readonly GaugeSource[];
}

/**
 * A label's values: a fixed set, or one from the configuration. `labelHost`: INGESTER_LABELER_HOSTS, the hosts the
 * label subscriber reads (it always knows its own); `labelEntryHost`: those and `unknown`, the host of the label
 * function's counters, since entries of rsky and the TS pipeline name none.
 */
type LabelValues = readonly string[] | 'host' | 'stream' | 'labelHost' | 'labelEntryHost' | 'labelSource';

/**
 * Values of a configuration-filled label (`host`, `stream`, `labelHost`, `labelSource`) not known at start-up that
 * are admitted as series of their own, per label kind; past them a value is counted as OVERFLOW_LABEL_VALUE. Such values
 * come from the network (a labeler minting source DIDs, each verifying), so without a bound each is a series for good.
 */
export const MAX_UNDECLARED_LABEL_VALUES = 100;
export const OVERFLOW_LABEL_VALUE = 'other';

/** The values a configuration-filled label kind shows: the `declared` ones first, then those admitted on first use. */
interface ShownValues {
  declared: number;
  values: Set<string>;
}

/**
 * Where a state gauge's value comes from: read from Redis or Postgres at scrape time, or set by the process as its
 * state changes (`process`: /ready's verdict, a subscription's socket opened or closed).
 */
export type GaugeSource = 'redis' | 'postgres' | 'process';

/** Every source: what a Node process shows unless told otherwise. */
export const ALL_GAUGE_SOURCES: readonly GaugeSource[] = ['redis', 'postgres', 'process'];

interface CounterSpec {
  help: string;
  labels: Record<string, LabelValues>;
}

const EVENT_TYPES = ['create', 'update', 'delete', 'repo', 'account', 'identity'] as const;

export const INDEX_RECORD_OUTCOMES = ['indexed', 'stale', 'tombstoned', 'invalid'] as const;
/** `deleted`: a pending entry whose data was deleted (XDEL, XTRIM by hand), acknowledged with nothing to process. */
export const CONSUMER_OUTCOMES = ['ok', 'retry', 'wait', 'dead', 'dlq', 'invalid', 'deleted'] as const;
export const FRAME_KINDS = ['sequenced', 'info', 'error', 'ignored', 'invalid', 'deferred'] as const;
/** What an identity wait waits on: a dependency's outage, the DID's own host (`did`), or a slow lookup (`lookup`). */
export const IDENTITY_WAITS = ['plc', 'dns', 'postgres', 'redis', 'did', 'lookup'] as const;
export const LABEL_OUTCOMES = ['label', 'negation', 'rejected', 'retry'] as const;
export const LABEL_STATES = ['in_force', 'expired', 'negated'] as const;

export const COUNTERS: Record<CounterName, CounterSpec> = {
  skytide_index_events_total: {
    help: 'stream events handled by the index function, by type and outcome',
    labels: { type: EVENT_TYPES, outcome: ['ok', 'stale', 'skipped', 'dead', 'invalid'] },
  },
  skytide_index_records_total: {
    help: 'record writes and deletes by collection family and outcome',
    labels: { collection: RECORD_FAMILIES, outcome: INDEX_RECORD_OUTCOMES },
  },
  skytide_index_batches_total: { help: 'index transactions by outcome', labels: { outcome: ['ok', 'error'] } },
  skytide_firehose_frames_total: { help: 'firehose frames read, by host and kind', labels: { host: 'host', kind: FRAME_KINDS } },
  skytide_firehose_errors_total: {
    help: 'firehose frames or ops rejected or dropped, by host and reason',
    labels: { host: 'host', reason: REASONS },
  },
  skytide_firehose_events_total: { help: 'events written to firehose_live, by host and type', labels: { host: 'host', type: EVENT_TYPES } },
  skytide_consumer_entries_total: { help: 'stream entries by stream and outcome', labels: { stream: 'stream', outcome: CONSUMER_OUTCOMES } },
  skytide_resync_requests_total: { help: 'repos queued for a full resync, by reason', labels: { reason: REASONS } },
  skytide_firehose_unverified_commits_total: {
    help: 'commits passed on without signature and MST checks because the upstream is trusted (INGESTER_TRUST_UPSTREAM)',
    labels: { host: 'host' },
  },
  skytide_identity_waits_total: {
    help: 'DIDs whose frames started waiting for their identity on the live path, by host and what they wait on',
    labels: { host: 'host', on: IDENTITY_WAITS },
  },
  skytide_identity_parked_frames_total: { help: 'frames parked behind a DID that waits for its identity, by host', labels: { host: 'host' } },
  skytide_identity_waits_unconfigured_total: {
    help: 'DIDs found by the firehose adapter at start waiting for their identity under a relay host no longer in INGESTER_RELAY_HOSTS (their parked frames are accepted events not yet written; logged per host)',
    labels: {},
  },
  skytide_labels_total: {
    help: 'labels handled by the label function, by labeler host and outcome (label and negation are stored)',
    labels: { host: 'labelEntryHost', outcome: LABEL_OUTCOMES },
  },
  skytide_labels_rejected_total: { help: 'labels rejected, by labeler host and reason', labels: { host: 'labelEntryHost', reason: LABEL_REJECTIONS } },
  skytide_labels_by_source_total: {
    help: 'labels and negations stored, by source DID (only sources whose labels verified, or trusted ones)',
    labels: { src: 'labelSource', outcome: ['label', 'negation'] },
  },
  skytide_label_frames_total: { help: 'subscribeLabels frames read, by labeler host and kind', labels: { host: 'labelHost', kind: FRAME_KINDS } },
  skytide_label_subscription_errors_total: {
    help: 'subscribeLabels frames dropped or refused by the subscriber, by labeler host and reason',
    labels: { host: 'labelHost', reason: REASONS },
  },
  skytide_label_entries_total: { help: 'label_live entries written by the label subscriber, by labeler host', labels: { host: 'labelHost' } },
  skytide_labels_parked_total: {
    help: "label_live entries parked out of the stream while their source's did:web host does not answer, by labeler host",
    labels: { host: 'labelEntryHost' },
  },
  skytide_labels_released_total: { help: 'parked label_live entries moved back into the stream once their source host answered', labels: {} },
  skytide_labels_parked_invalid_total: {
    help: 'parked label_live entries that no longer parse (truncated, another version\'s), moved to label_live_dlq (reason invalid_parked_entry) so their host\'s other entries are released',
    labels: {},
  },
  skytide_labels_trusted_total: {
    help: 'labels of LABEL_TRUSTED_SOURCES accepted without a signature or from another host than their labeler',
    labels: { src: 'labelSource', why: TRUST_REASONS },
  },
  skytide_outage_waits_total: {
    help: 'waits of a loop waiting out an outage (nothing dead-lettered, no attempt counted), by dependency',
    labels: { dependency: DEPENDENCIES },
  },
  skytide_tasks_stuck_total: {
    help: 'supervised tasks found hung by the watchdog (no progress reported for SKYTIDE_TASK_STUCK_MS); the process then exits 1',
    labels: {},
  },
  skytide_filtered_total: {
    help: 'events, repos and listed DIDs dropped by INGESTER_COLLECTIONS, INGESTER_DIDS and INGESTER_EXCLUDE_DIDS, by where and why',
    labels: { where: ['firehose', 'backfill', 'sweep'], why: ['did', 'collection'] },
  },
  skytide_worker_repos_refused_total: {
    help: 'repos a Worker refused before indexing them, by reason (too_large_for_worker: over WORKER_MAX_REPO_BYTES)',
    labels: { reason: ['too_large_for_worker'] },
  },
  skytide_work_queue_messages_total: {
    help: 'messages settled by a Worker\'s queue consumer, by queue and outcome (outage: sent again with a delay, no attempt counted; send_failed: that send or dead letter failed, the message was retried)',
    labels: { queue: ['repo_backfill'], outcome: ['ack', 'retry', 'outage', 'dead', 'send_failed'] },
  },
  skytide_function_calls_total: { help: 'calls of each stream\'s function (index, label, backfill) by its consumers', labels: { stream: 'stream' } },
  skytide_function_seconds_total: { help: 'seconds spent in those calls (with the calls: mean latency per call)', labels: { stream: 'stream' } },
  skytide_sweep_problems_total: {
    help: 'what listRepos sweeps met and worked around, by problem (repeated_cursor: a page sent the pass back to a cursor it had used, the pass ended there; relay_unavailable: a wait for a relay that is down, the page and a request from the start both failing, no page skipped; invalid_syntax: a listed entry with no valid DID, dropped, one per entry)',
    labels: { problem: SWEEP_PROBLEMS },
  },
  skytide_dead_letters_total: {
    help: 'entries moved to a stream\'s DLQ (<stream>_dlq), by stream and the reason the letter carries (what `skytide dlq list --reason` picks)',
    labels: { stream: 'stream', reason: REASONS },
  },
  skytide_http_refused_total: {
    help: 'HTTP requests refused as invalid, by route and reason (body_too_big: over HTTP_BODY_LIMIT_BYTES; invalid_json: not JSON; invalid_request: not a batch, or queryLabels parameters; invalid_did: reprocess of what is not a resolvable DID)',
    // Every route that takes a body (adapters/http/routes/functions.ts), reprocess and queryLabels.
    labels: { route: REFUSING_ROUTES, reason: HTTP_REFUSALS },
  },
};

/** The pipeline-state gauges, each set at zero from start-up with every label value, then refreshed at scrape time. */
export const GAUGES = {
  streamLength: { name: 'skytide_stream_length', help: 'entries in each stream', source: 'redis', labels: { stream: 'stream' } },
  streamPending: { name: 'skytide_stream_pending', help: 'entries delivered but not acknowledged', source: 'redis', labels: { stream: 'stream' } },
  firehoseCursor: { name: 'skytide_firehose_cursor', help: 'last seq durably in the stream, per host', source: 'redis', labels: { host: 'host' } },
  identityWaitingDids: {
    name: 'skytide_identity_waiting_dids', help: 'DIDs whose frames wait for their identity, per firehose host', source: 'redis', labels: { host: 'host' },
  },
  sweepSkippedRanges: {
    name: 'skytide_sweep_skipped_ranges',
    help: 'listRepos ranges a sweep skipped and no retry has listed yet (repo_backfill:skipped:<host>), per relay host',
    source: 'redis', labels: { host: 'host' },
  },
  labelCursor: {
    name: 'skytide_label_cursor', help: 'last seq durably in label_live, per labeler host', source: 'redis', labels: { host: 'labelHost' },
  },
  parkedLabels: {
    name: 'skytide_parked_labels',
    help: 'label_live entries parked now, waiting for their source\'s did:web host, per labeler host (`unknown`: entries that name none); a labeler at INGESTER_LABEL_PARKED_HIGH_WATER_MARK is held',
    source: 'redis', labels: { host: 'labelEntryHost' },
  },
  ready: {
    name: 'skytide_ready',
    help: '1 while this process\'s /ready checks pass (Redis, Postgres where its tasks use it, no hung task), else 0; checked at each /ready and before each scrape',
    source: 'process', labels: {},
  },
  firehoseConnected: {
    name: 'skytide_firehose_connected',
    help: '1 while this process holds a subscribeRepos connection to the relay open, else 0 (a process that does not subscribe shows 0: take max across processes)',
    source: 'process', labels: { host: 'host' },
  },
  labelSubscriptionConnected: {
    name: 'skytide_label_subscription_connected',
    help: '1 while this process holds a subscribeLabels connection to the labeler open, else 0 (a process that does not subscribe shows 0: take max across processes)',
    source: 'process', labels: { host: 'labelHost' },
  },
  repoSync: { name: 'skytide_repo_sync', help: 'repos by sync state (repo_sync)', source: 'postgres', labels: { status: REPO_SYNC_STATES } },
  repoSyncAge: { name: 'skytide_repo_sync_age_seconds', help: 'how old the skytide_repo_sync counts are (cached)', source: 'postgres', labels: {} },
  labelStates: {
    name: 'skytide_labels',
    help: '(src, uri, val) by the state of their newest label: in force, expired, negated (cached; see skytide_labels_age_seconds)',
    source: 'postgres',
    labels: { state: LABEL_STATES },
  },
  labelStatesAge: { name: 'skytide_labels_age_seconds', help: 'how old the skytide_labels counts are', source: 'postgres', labels: {} },
} as const satisfies Record<string, { name: string; help: string; source: GaugeSource; labels: Record<string, LabelValues> }>;

type GaugeKey = keyof typeof GAUGES;
/** The label names of a gauge, for prom-client's types. */
type GaugeLabels<K extends GaugeKey> = Extract<keyof (typeof GAUGES)[K]['labels'], string>;

/** A declared label set with the configured values put in: every value each label can take at start-up. */
function resolveLabels(labels: Record<string, LabelValues>, dimensions: MetricDimensions): Record<string, readonly string[]> {
  const resolved: Record<string, readonly string[]> = {};
  for (const [label, values] of Object.entries(labels)) {
    resolved[label] =
      values === 'host' ? dimensions.hosts
      : values === 'stream' ? dimensions.streams
      : values === 'labelHost' ? (dimensions.labelHosts ?? [])
      : values === 'labelEntryHost' ? [...(dimensions.labelHosts ?? []), UNKNOWN_HOST]
      : values === 'labelSource' ? (dimensions.labelSources ?? [])
      : values;
  }
  return resolved;
}

export interface DeclaredSeries {
  name: string;
  type: 'counter' | 'gauge';
  labels: Record<string, string>;
}

/**
 * Every series /metrics shows from start-up with these dimensions, at zero: the one list createMetrics registers
 * and the tests hold a running process's /metrics against.
 */
export function declaredSeries(dimensions: MetricDimensions): DeclaredSeries[] {
  const out: DeclaredSeries[] = [];
  for (const [name, spec] of Object.entries(COUNTERS)) {
    for (const labels of combinations(resolveLabels(spec.labels, dimensions))) out.push({ name, type: 'counter', labels });
  }
  const sources = dimensions.stateGauges ?? ALL_GAUGE_SOURCES;
  for (const spec of Object.values(GAUGES)) {
    if (!sources.includes(spec.source)) continue;
    for (const labels of combinations(resolveLabels(spec.labels, dimensions))) out.push({ name: spec.name, type: 'gauge', labels });
  }
  return out;
}

function combinations(labels: Record<string, readonly string[]>): Record<string, string>[] {
  let out: Record<string, string>[] = [{}];
  for (const [name, values] of Object.entries(labels)) {
    out = out.flatMap((partial) => values.map((value) => ({ ...partial, [name]: value })));
  }
  return out;
}

export interface MetricsBundle {
  metrics: Metrics;
  registry: Registry;
  /** Gauges refreshed at scrape time by whoever owns the data (Redis lengths, cursors). */
  gauges: { [K in GaugeKey]: Gauge<GaugeLabels<K>> };
}

export function createMetrics(dimensions: MetricDimensions): MetricsBundle {
  const registry = new Registry();
  const counters = new Map<CounterName, { counter: Counter<string>; labelNames: string[]; bounded: Map<string, ShownValues> }>();
  /** Per configuration-filled label kind, shared by every counter with that kind of label. */
  const shown = new Map<string, ShownValues>();
  for (const [name, spec] of Object.entries(COUNTERS) as [CounterName, CounterSpec][]) {
    const labelNames = Object.keys(spec.labels);
    const counter = new Counter({ name, help: spec.help, labelNames, registers: [registry] });
    const resolved = resolveLabels(spec.labels, dimensions);
    for (const labels of combinations(resolved)) counter.inc(labels, 0);
    const bounded = new Map<string, ShownValues>();
    for (const [label, values] of Object.entries(spec.labels)) {
      if (typeof values !== 'string') continue;
      let kind = shown.get(values);
      if (kind === undefined) shown.set(values, (kind = { declared: resolved[label]!.length, values: new Set(resolved[label]) }));
      bounded.set(label, kind);
    }
    counters.set(name, { counter, labelNames, bounded });
  }
  /** `value`, or OVERFLOW_LABEL_VALUE once its kind shows MAX_UNDECLARED_LABEL_VALUES values beyond the declared ones. */
  const admit = (kind: ShownValues, value: string): string => {
    if (kind.values.has(value)) return value;
    if (kind.values.size - kind.declared >= MAX_UNDECLARED_LABEL_VALUES) return OVERFLOW_LABEL_VALUE;
    kind.values.add(value);
    return value;
  };
  // A gauge left out is registered where nothing renders it, so whoever holds the bundle can still set it.
  const sources = dimensions.stateGauges ?? ALL_GAUGE_SOURCES;
  const hidden = new Registry();
  const gauge = <K extends GaugeKey>(key: K): Gauge<GaugeLabels<K>> => {
    const spec: { name: string; help: string; source: GaugeSource; labels: Record<string, LabelValues> } = GAUGES[key];
    const g = new Gauge<GaugeLabels<K>>({
      name: spec.name, help: spec.help, labelNames: Object.keys(spec.labels) as GaugeLabels<K>[],
      registers: [sources.includes(spec.source) ? registry : hidden],
    });
    for (const labels of combinations(resolveLabels(spec.labels, dimensions))) g.set(labels as Partial<Record<GaugeLabels<K>, string>>, 0);
    return g;
  };
  const gauges = {
    streamLength: gauge('streamLength'),
    streamPending: gauge('streamPending'),
    firehoseCursor: gauge('firehoseCursor'),
    identityWaitingDids: gauge('identityWaitingDids'),
    sweepSkippedRanges: gauge('sweepSkippedRanges'),
    labelCursor: gauge('labelCursor'),
    parkedLabels: gauge('parkedLabels'),
    ready: gauge('ready'),
    firehoseConnected: gauge('firehoseConnected'),
    labelSubscriptionConnected: gauge('labelSubscriptionConnected'),
    repoSync: gauge('repoSync'),
    repoSyncAge: gauge('repoSyncAge'),
    labelStates: gauge('labelStates'),
    labelStatesAge: gauge('labelStatesAge'),
  };

  const metrics: Metrics = {
    inc(name, labels = {}, value = 1) {
      const entry = counters.get(name);
      if (entry === undefined) return;
      // Only declared label names reach prom-client, which throws on others: a metric must never break a hot path.
      const clean: Record<string, string> = {};
      for (const l of entry.labelNames) {
        const value = labels[l] ?? 'unknown';
        const kind = entry.bounded.get(l);
        clean[l] = kind === undefined ? value : admit(kind, value);
      }
      entry.counter.inc(clean, value);
    },
  };
  return { metrics, registry, gauges };
}
