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
import { FUNCTION_ROUTES, HTTP_REFUSALS } from '../http/refusals.ts';

/** Label values known at start-up that depend on configuration. */
export interface MetricDimensions {
  hosts: readonly string[];
  streams: readonly string[];
  /** INGESTER_LABELER_HOSTS without scheme. */
  labelHosts?: readonly string[];
  /** LABEL_TRUSTED_SOURCES: the sources known before any label arrives. */
  labelSources?: readonly string[];
  /**
   * Whether /metrics shows the pipeline-state gauges (stream lengths, cursors, repo_sync and label counts), which a
   * status reader fills from Redis and Postgres at scrape time (pipeline-status.ts); default true. A runtime without
   * that reader (the Worker) leaves them out: never refreshed, they would claim 0 repos synchronized, counted 0
   * seconds ago, whatever the database holds.
   */
  stateGauges?: boolean;
}

type LabelValues = readonly string[] | 'host' | 'stream' | 'labelHost' | 'labelSource';

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
  skytide_labels_total: {
    help: 'labels handled by the label function, by labeler host and outcome (label and negation are stored)',
    labels: { host: 'labelHost', outcome: LABEL_OUTCOMES },
  },
  skytide_labels_rejected_total: { help: 'labels rejected, by labeler host and reason', labels: { host: 'labelHost', reason: LABEL_REJECTIONS } },
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
  skytide_labels_trusted_total: {
    help: 'labels of LABEL_TRUSTED_SOURCES accepted without a signature or from another host than their labeler',
    labels: { src: 'labelSource', why: TRUST_REASONS },
  },
  skytide_outage_waits_total: {
    help: 'waits of a loop waiting out an outage (nothing dead-lettered, no attempt counted), by dependency',
    labels: { dependency: DEPENDENCIES },
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
    help: 'what listRepos sweeps met and worked around, by problem (repeated_cursor: a page sent the pass back to a cursor it had used, the pass ended there; relay_unavailable: a wait for a relay that is down, no page skipped)',
    labels: { problem: SWEEP_PROBLEMS },
  },
  skytide_http_refused_total: {
    help: 'HTTP requests whose body was refused, by route and reason (body_too_big: over HTTP_BODY_LIMIT_BYTES; invalid_json: not JSON; invalid_request: not a batch)',
    // Every route that takes a body (adapters/http/routes/functions.ts).
    labels: { route: FUNCTION_ROUTES, reason: HTTP_REFUSALS },
  },
};

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
  gauges: {
    streamLength: Gauge<'stream'>;
    streamPending: Gauge<'stream'>;
    firehoseCursor: Gauge<'host'>;
    repoSync: Gauge<'status'>;
    identityWaitingDids: Gauge<'host'>;
    labelStates: Gauge<'state'>;
    labelStatesAge: Gauge;
    repoSyncAge: Gauge;
  };
}

export function createMetrics(dimensions: MetricDimensions): MetricsBundle {
  const registry = new Registry();
  const counters = new Map<CounterName, { counter: Counter<string>; labelNames: string[] }>();
  for (const [name, spec] of Object.entries(COUNTERS) as [CounterName, CounterSpec][]) {
    const labelNames = Object.keys(spec.labels);
    const counter = new Counter({ name, help: spec.help, labelNames, registers: [registry] });
    const resolved: Record<string, readonly string[]> = {};
    for (const [label, values] of Object.entries(spec.labels)) {
      resolved[label] =
        values === 'host' ? dimensions.hosts
        : values === 'stream' ? dimensions.streams
        : values === 'labelHost' ? [...(dimensions.labelHosts ?? []), UNKNOWN_HOST]
        : values === 'labelSource' ? (dimensions.labelSources ?? [])
        : values;
    }
    for (const labels of combinations(resolved)) counter.inc(labels, 0);
    counters.set(name, { counter, labelNames });
  }
  // Left out: registered where nothing renders them, so whoever holds the bundle can still set them.
  const gaugeRegistry = dimensions.stateGauges === false ? new Registry() : registry;
  const gauges = {
    streamLength: new Gauge({ name: 'skytide_stream_length', help: 'entries in each stream', labelNames: ['stream'], registers: [gaugeRegistry] }),
    streamPending: new Gauge({ name: 'skytide_stream_pending', help: 'entries delivered but not acknowledged', labelNames: ['stream'], registers: [gaugeRegistry] }),
    firehoseCursor: new Gauge({ name: 'skytide_firehose_cursor', help: 'last seq durably in the stream, per host', labelNames: ['host'], registers: [gaugeRegistry] }),
    repoSync: new Gauge({ name: 'skytide_repo_sync', help: 'repos by sync state (repo_sync)', labelNames: ['status'], registers: [gaugeRegistry] }),
    identityWaitingDids: new Gauge({ name: 'skytide_identity_waiting_dids', help: 'DIDs whose frames wait for their identity, per firehose host', labelNames: ['host'], registers: [gaugeRegistry] }),
    labelStates: new Gauge({
      name: 'skytide_labels',
      help: '(src, uri, val) by the state of their newest label: in force, expired, negated (cached; see skytide_labels_age_seconds)',
      labelNames: ['state'],
      registers: [gaugeRegistry],
    }),
    labelStatesAge: new Gauge({ name: 'skytide_labels_age_seconds', help: 'how old the skytide_labels counts are', registers: [gaugeRegistry] }),
    repoSyncAge: new Gauge({ name: 'skytide_repo_sync_age_seconds', help: 'how old the skytide_repo_sync counts are (cached)', registers: [gaugeRegistry] }),
  };
  for (const state of LABEL_STATES) gauges.labelStates.set({ state }, 0);
  gauges.labelStatesAge.set(0);
  gauges.repoSyncAge.set(0);
  for (const status of ['synchronized', 'desynchronized', 'in-progress', 'deleted']) gauges.repoSync.set({ status }, 0);
  for (const stream of dimensions.streams) {
    gauges.streamLength.set({ stream }, 0);
    gauges.streamPending.set({ stream }, 0);
  }
  for (const host of dimensions.hosts) {
    gauges.firehoseCursor.set({ host }, 0);
    gauges.identityWaitingDids.set({ host }, 0);
  }

  const metrics: Metrics = {
    inc(name, labels = {}, value = 1) {
      const entry = counters.get(name);
      if (entry === undefined) return;
      // Only declared label names reach prom-client, which throws on others: a metric must never break a hot path.
      const clean: Record<string, string> = {};
      for (const l of entry.labelNames) clean[l] = labels[l] ?? 'unknown';
      entry.counter.inc(clean, value);
    },
  };
  return { metrics, registry, gauges };
}
