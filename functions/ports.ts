// The ports: a function's only way out. Functions receive these as arguments and never import adapters, Redis or
// node:* modules, so the same code runs under Node, in a container and in a Worker. Adapters implement them.

/** A value that can be bound to a `$n` placeholder. Arrays bind to Postgres arrays (for `unnest` batch writes). */
export type SqlScalar = string | number | bigint | boolean | null;
export type SqlValue = SqlScalar | readonly SqlScalar[];
export type SqlRow = Record<string, unknown>;

/**
 * Runs one parameterised statement (`$1`, `$2`, ...). Never string-concatenate values into `text`. Its rows hold
 * unknown values: a caller that reads them names their columns and kinds with `checkRows` (sql-rows.ts).
 */
export interface SqlExecutor {
  query(text: string, params?: readonly SqlValue[]): Promise<SqlRow[]>;
  /**
   * Optional: bulk-loads rows with `COPY table (columns) FROM STDIN` (text values, null for NULL). Connections that
   * cannot COPY (Workers, PGlite) leave it out, and callers fall back to multi-row statements.
   */
  copyRows?(table: string, columns: readonly string[], rows: readonly (readonly (string | null)[])[]): Promise<void>;
  /** With copyRows: the fewest rows worth a COPY (its extra round trips cost more than parsing a small batch). */
  readonly copyMinRows?: number;
}

/** The Postgres port. `transaction` commits when `fn` resolves and rolls back when it throws. */
export interface Sql extends SqlExecutor {
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
}

/** The Web `fetch`, injected so tests and Workers supply their own and adapters can add SSRF/size/time guards. */
export type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/**
 * Slots per host, so downloads from one host are spread out (BACKFILLER_PER_HOST). `run` waits for a slot of the URL's
 * host and holds it while `download` runs (its body read whole inside it, or the slot is freed with the body unread).
 * Time spent waiting is ours, not the host's: a deadline or stall timer meant for the host starts inside `download`.
 */
export interface HostSlots {
  run<T>(url: string, download: () => Promise<T>): Promise<T>;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export type LogFields = Record<string, unknown>;

/** JSON-lines logger. `msg` is a constant lowercase phrase; variable data goes in fields. Never log records or tokens. */
export interface Log {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(component: string): Log;
}

/**
 * Counters a function may bump. The adapter registers every name with every label value at zero on start-up
 * (adapters/observability/metrics.ts), so the closed sets live here where functions can see them.
 */
export type CounterName =
  | 'skytide_index_events_total' // labels: type, outcome
  | 'skytide_index_records_total' // labels: collection, outcome
  | 'skytide_index_batches_total' // labels: outcome
  | 'skytide_firehose_frames_total' // labels: host, kind
  | 'skytide_firehose_errors_total' // labels: host, reason
  | 'skytide_firehose_events_total' // labels: host, type
  | 'skytide_consumer_entries_total' // labels: stream, outcome
  | 'skytide_dead_letters_total' // labels: stream, reason (entries moved to <stream>_dlq, by the letter's reason)
  | 'skytide_resync_requests_total' // labels: reason
  | 'skytide_firehose_unverified_commits_total' // labels: host (INGESTER_TRUST_UPSTREAM)
  | 'skytide_identity_waits_total' // labels: host, on (a DID started waiting for its identity on the live path)
  | 'skytide_identity_parked_frames_total' // labels: host (frames parked behind a DID's identity wait)
  | 'skytide_identity_waits_unconfigured_total' // no labels (DIDs found at firehose start waiting under a relay no longer configured)
  | 'skytide_labels_total' // labels: host, outcome (label, negation, rejected, retry)
  | 'skytide_labels_rejected_total' // labels: host, reason (LABEL_REJECTIONS)
  | 'skytide_labels_by_source_total' // labels: src, outcome (label, negation): accepted labels per source
  | 'skytide_labels_trusted_total' // labels: src, why (unsigned, other_host): LABEL_TRUSTED_SOURCES at work
  | 'skytide_label_frames_total' // labels: host, kind (subscribeLabels frames read, as skytide_firehose_frames_total)
  | 'skytide_label_subscription_errors_total' // labels: host, reason (subscribeLabels frames dropped or refused)
  | 'skytide_label_entries_total' // labels: host (label_live entries written by the subscriber)
  | 'skytide_labels_parked_total' // labels: host (label_live entries parked while their source's host is down, by labeler host)
  | 'skytide_labels_released_total' // no labels (parked label_live entries moved back once their source's host answers)
  | 'skytide_labels_parked_invalid_total' // no labels (parked label_live entries that were no entry, moved to label_live_dlq)
  | 'skytide_outage_waits_total' // labels: dependency (each wait of a loop waiting out an outage)
  | 'skytide_tasks_stuck_total' // no labels (a supervised task found hung by the watchdog)
  | 'skytide_filtered_total' // labels: where (firehose, backfill, sweep), why (did, collection): dropped by the filters
  | 'skytide_worker_repos_refused_total' // labels: reason (too_large_for_worker: a Worker refused a repo before indexing it)
  | 'skytide_work_queue_messages_total' // labels: queue, outcome (ack, retry, outage, dead, send_failed): a Worker's queue consumer
  | 'skytide_function_calls_total' // labels: stream (calls of the stream's function by its consumers)
  | 'skytide_function_seconds_total' // labels: stream (time spent in those calls: their mean latency with the calls)
  | 'skytide_http_refused_total' // labels: route, reason (request bodies refused: body_too_big, invalid_json, invalid_request)
  | 'skytide_sweep_problems_total'; // labels: problem (SWEEP_PROBLEMS: what a listRepos sweep met and worked around)

export interface Metrics {
  inc(name: CounterName, labels?: Record<string, string>, value?: number): void;
}

/** Ports every function receives. Each function adds the ones it needs (for example `sql`). */
export interface BasePorts {
  clock: Clock;
  log: Log;
  metrics: Metrics;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A logger and metrics sink that drop everything: for tests and tools that do not care. */
export const silentLog: Log = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLog;
  },
};

export const noMetrics: Metrics = { inc() {} };
