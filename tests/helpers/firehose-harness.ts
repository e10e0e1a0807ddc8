// The set-up the firehose adapter's integration tests (tests/integration/firehose) share: a test Redis per file, a
// fresh key space and fake relay per test, the ingester run with fast test defaults (each one overridable), and the
// readers those tests assert on (a stream's entries, the repo_backfill resyncs, the cursor, a repo's continuity state,
// a counter from the run's own metrics). Call `useFirehoseHarness` once at the top of a file: it registers its hooks.
// What only one file needs (a fake PLC, an identity stack, an index database, a recording log) stays in that file and
// comes in through `start(extra)` or the `ingester` option.
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import type { Redis } from 'ioredis';
import { runFirehoseIngester, type FirehoseIngesterOptions } from '../../long-runners/firehose/firehose-ingester.ts';
import { createKeySpace, hostKey, STREAMS, type KeySpace, type KeySpaceOptions } from '../../adapters/redis/keys.ts';
import { createMetrics, type MetricDimensions, type MetricsBundle } from '../../adapters/observability/metrics.ts';
import { silentLog } from '../../functions/ports.ts';
import { startFakeRelay, type FakeRelay } from '../../long-runners/dev/fake-relay.ts';
import { createTestRedis } from './services.ts';

export interface FirehoseHarnessOptions {
  /** Fake relays started for each test (default 1); `relay` is the first. */
  relays?: number;
  /** Options of each test's key space (`{ shards: 4 }`). */
  keySpace?: KeySpaceOptions;
  /** Each run's metrics dimensions; default its own host and firehose_live. */
  metrics?: Partial<MetricDimensions>;
  /** Options every run of the file adds to the defaults (an identity stack, a repo-state store), built at each start. */
  ingester?: (h: FirehoseHarness) => Partial<FirehoseIngesterOptions>;
}

/** One ingester started by `start`. */
export interface FirehoseRun {
  metrics: MetricsBundle;
  /** The value of the series `name{labels}` in the run's metrics; NaN when it has none. */
  count(name: string, labels: string): Promise<number>;
  /** `skytide_firehose_errors_total` of the run's host for `reason`. */
  errors(reason: string): Promise<number>;
  /** Aborts the run and waits for it to end (the test's end does that too). */
  stop(): Promise<void>;
  /** Waits for the run to end by itself and gives its error (undefined when it ended cleanly); then not stopped. */
  failure(): Promise<unknown>;
}

/** A stream entry as the tests read it: the fields they look at, and whatever else the event holds. */
export interface StreamEntry {
  type: string;
  seq: number;
  did: string;
  rkey?: string;
  handle?: string;
  [field: string]: unknown;
}

/** A repo_backfill entry (a resync request). */
export interface ResyncEntry {
  did: string;
  host: string;
  rev: string;
  active: boolean;
  reason: string;
}

export interface FirehoseHarness {
  readonly redis: Redis;
  /** The current test's key space. */
  readonly keys: KeySpace;
  /** The current test's (first) relay. */
  readonly relay: FakeRelay;
  readonly relays: readonly FakeRelay[];
  /** Replaces the key space for the rest of the test (a deployment that has stored nothing yet). */
  freshKeys(): KeySpace;
  /** Runs the ingester on `relay` with the test defaults, the file's `ingester` options and `extra`, in that order. */
  start(extra?: Partial<FirehoseIngesterOptions>): FirehoseRun;
  /** Stops every run of the current test. */
  stop(): Promise<void>;
  /** The entries of a stream (default firehose_live), each its event's JSON parsed. */
  events(stream?: string): Promise<StreamEntry[]>;
  /** The entries of repo_backfill. */
  resyncs(): Promise<ResyncEntry[]>;
  /** The stored firehose_live cursor of `host` (default the relay's), as Redis holds it. */
  cursor(host?: string): Promise<string | null>;
  /** The same as a number, -1 when none is stored. */
  cursorSeq(host?: string): Promise<number>;
  /** A repo's stored continuity state, undefined when none. */
  repoState(did: string): Promise<{ rev: string; data?: string } | undefined>;
}

const newKeys = (options: KeySpaceOptions | undefined) => createKeySpace(`${Math.random().toString(36).slice(2)}:`, options);

export function useFirehoseHarness(name: string, options: FirehoseHarnessOptions = {}): FirehoseHarness {
  let redis: Redis | undefined;
  let cleanup: (() => Promise<void>) | undefined;
  let keys: KeySpace | undefined;
  let relays: FakeRelay[] = [];
  let runs: FirehoseRun[] = [];

  beforeAll(async () => ({ redis, cleanup } = await createTestRedis(name)));
  afterAll(async () => cleanup?.());
  beforeEach(async () => {
    keys = newKeys(options.keySpace);
    relays = [];
    for (let i = 0; i < (options.relays ?? 1); i++) relays.push(await startFakeRelay());
  });
  afterEach(async () => {
    try {
      await h.stop();
    } finally {
      for (const relay of relays) await relay.close();
    }
  });

  const present = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`the firehose harness has no ${what} outside a test`);
    return value;
  };
  const entries = async (stream: string) =>
    (await h.redis.xrange(h.keys.stream(stream), '-', '+')).map(([, fields]) => JSON.parse(fields[1] ?? 'null'));

  const h: FirehoseHarness = {
    get redis() {
      return present(redis, 'Redis');
    },
    get keys() {
      return present(keys, 'key space');
    },
    get relay() {
      return present(relays[0], 'relay');
    },
    get relays() {
      return relays;
    },
    freshKeys: () => (keys = newKeys(options.keySpace)),
    start(extra = {}) {
      const host = extra.host ?? h.relay.host;
      const metrics = createMetrics({ hosts: [hostKey(host)], streams: [STREAMS.firehoseLive], ...options.metrics });
      const controller = new AbortController();
      const done = runFirehoseIngester({
        redis: h.redis, keys: h.keys, host, highWaterMark: 100_000, batchSize: 50, batchTimeoutMs: 20, initialCursor: 0,
        log: silentLog, metrics: metrics.metrics, signal: controller.signal, lengthCheckIntervalMs: 20,
        backoff: { baseMs: 10, maxMs: 50, healthyAfterMs: 10_000 }, ...options.ingester?.(h), ...extra,
      });
      const forget = () => void (runs = runs.filter((r) => r !== run));
      const count = async (series: string, labels: string) => {
        const line = (await metrics.registry.metrics()).split('\n').find((l) => l.startsWith(`${series}{${labels}}`));
        return Number(line?.split(' ').at(-1) ?? NaN);
      };
      const run: FirehoseRun = {
        metrics,
        count,
        errors: (reason) => count('skytide_firehose_errors_total', `host="${hostKey(host)}",reason="${reason}"`),
        stop: async () => {
          forget();
          controller.abort();
          await done;
        },
        failure: async () => {
          forget();
          const error = await done.then(() => undefined, (e: unknown) => e);
          controller.abort();
          return error;
        },
      };
      runs.push(run);
      return run;
    },
    async stop() {
      for (const run of [...runs]) await run.stop();
    },
    events: async (stream = STREAMS.firehoseLive) => entries(stream),
    resyncs: async () => entries(STREAMS.repoBackfill),
    cursor: (host) => h.redis.get(h.keys.cursor(STREAMS.firehoseLive, host ?? h.relay.host)),
    cursorSeq: async (host) => Number((await h.cursor(host)) ?? -1),
    repoState: async (did) => JSON.parse((await h.redis.get(h.keys.repoState(did))) ?? 'null') ?? undefined,
  };
  return h;
}
