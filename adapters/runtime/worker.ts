// The Cloudflare Workers entry: the same Hono app and the same functions as under Node, wired to Worker bindings.
// Wiring only. Three exports:
// - `fetch`: the Hono app of adapters/http/app.ts (health, readiness, metrics, every function route, reprocess,
//   queryLabels), its metrics from the same registry code as Node (adapters/observability/metrics.ts).
// - `scheduled`: the cron trigger's listRepos sweep (worker-sweep.ts) into the backfill queue, its cursor in Postgres.
// - `queue`: the backfill queue's consumer, one repo at a time through backfill-repo, each message settled through
//   the work-queue port (adapters/queue/cloudflare-work-queue.ts): ack, retry with backoff for the repo's own failures
//   (then the dead-letter queue), dead-lettered at once for a verdict, sent again with a delay for an outage.
// Bindings (wrangler.toml): HYPERDRIVE (Postgres through Hyperdrive; DATABASE_URL when absent), BACKFILL_QUEUE and
// BACKFILL_DLQ (producers), string vars parsed by the same config parser as process.env.
// A setup the operator got wrong (a [vars] value the parser refuses, a queue binding missing) is no message's defect:
// `queue` waits it out, every message re-sent with a long delay and no attempt counted, and `/ready` answers 503
// naming it (`setup`), instead of throwing, which the platform retries with an attempt counted on every message.
import { ConfigError, parseConfig, type Config } from '../config/parse.ts';
import { createApp } from '../http/app.ts';
import { createSql } from '../postgres/client.ts';
import { createLogger } from '../observability/logger.ts';
import { createMetrics, type MetricsBundle } from '../observability/metrics.ts';
import { createIdentityResolver } from '../identity/resolver.ts';
import { createHandleResolver } from '../identity/handle-resolver.ts';
import { createResolverCheck } from '../identity/resolver-check.ts';
import { systemDns } from '#system-dns';
import { createGuardedFetch } from '../xrpc/guarded-fetch.ts';
import { createHostSlots } from '../xrpc/host-slots.ts';
import { withWorkerRepoLimit } from '../xrpc/worker-size-limit.ts';
import { hostKey, STREAMS } from '../redis/keys.ts';
import { createCloudflareWorkQueue, delaySeconds, type CloudflareMessageBatch, type Envelope, type QueueProducerBinding } from '../queue/cloudflare-work-queue.ts';
import type { QueueMessage } from '../queue/work-queue.ts';
import { sweepTick } from './worker-sweep.ts';
import { retryDelayMs, settleBackfill } from './backfill-settlement.ts';
import { systemClock, type Log, type Sql } from '../../functions/ports.ts';
import { backfillRepos, type BackfillPorts } from '../../functions/backfill-repo/handler.ts';
import { DEFAULT_REPO_LIMITS } from '../../functions/atproto/repo/read-car.ts';
import { parseRepoBackfillEntry, type RepoBackfillEntry } from '../../functions/events.ts';
import { dependencyErrorIn, describeError, SkytideError } from '../../functions/errors.ts';
import type { Hono } from 'hono';

interface WorkerEnv {
  HYPERDRIVE?: { connectionString: string };
  BACKFILL_QUEUE?: QueueProducerBinding<Envelope<RepoBackfillEntry>>;
  BACKFILL_DLQ?: QueueProducerBinding<Envelope<RepoBackfillEntry>>;
  [name: string]: unknown;
}

interface ExecutionContext {
  waitUntil(promise: Promise<unknown>): void;
}

interface ScheduledController {
  readonly cron: string;
  readonly scheduledTime: number;
}

/** The queue name the metrics and logs use for the backfill queue (rsky's stream name). */
const BACKFILL = STREAMS.repoBackfill;

// NOTE: Workers forbid using an I/O object (a socket) in a request other than the one that opened it, so a pool
// cached per isolate fails on its second request (tests/e2e/worker-runtime.test.ts). Each invocation opens its own
// connection and closes it when done; Hyperdrive pools in front of Postgres. What holds no I/O (parsed config, the
// metrics registry) lives per isolate: /metrics counts what this isolate did since it started (Cloudflare runs many
// isolates and recycles them), every series at zero from the isolate's start; no gauge of the pipeline's state
// (stream lengths, cursors, repo_sync counts), which only Node's status reader keeps up to date.
interface IsolateState {
  key: string;
  config: Config;
  log: Log;
  metrics: MetricsBundle;
}
let cached: IsolateState | undefined;

/** The string vars of the env (bindings are objects), as the config parser reads process.env. */
function stringVars(env: WorkerEnv): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

function isolateState(env: WorkerEnv): IsolateState {
  const vars = stringVars(env);
  const key = JSON.stringify(vars);
  if (cached?.key === key) return cached;
  const { config, unknown } = parseConfig(vars);
  const problems = workerConfigProblems(config);
  if (problems.length > 0) throw new ConfigError(problems);
  const log = createLogger({ level: config.logLevel, component: 'worker', write: (line) => console.log(line) });
  if (unknown.length > 0) log.warn('unknown variables', { names: unknown });
  const metrics = createMetrics({
    hosts: config.relayHosts.map(hostKey),
    streams: [BACKFILL],
    labelHosts: config.labelerHosts.map(hostKey),
    labelSources: config.labelTrustedSources,
    // Nothing here reads Redis or counts repo_sync at scrape time, as Node's status reader does.
    stateGauges: [],
  });
  cached = { key, config, log, metrics };
  return cached;
}

/** Time a Worker sweep tick needs, past a page's deadline, to store the page and queue its repos. */
const SWEEP_STORE_MARGIN_MS = 10_000;

/**
 * Checks only the Worker needs. Its cron sweep renews the host's lease when it stores a page (Node's sweeper renews
 * on a timer instead): a lease shorter than a page's deadline lets the next tick take the host mid-page, and both send
 * the same pages.
 */
function workerConfigProblems(config: Config): string[] {
  const floor = config.sweepPageTimeoutMs + SWEEP_STORE_MARGIN_MS;
  return config.sweepLeaseTtlMs < floor
    ? [`SWEEP_LEASE_TTL_MS=${config.sweepLeaseTtlMs} must be at least SWEEP_PAGE_TIMEOUT_MS (${config.sweepPageTimeoutMs}) plus ${SWEEP_STORE_MARGIN_MS} on the Worker: its sweep renews the lease only between pages`]
    : [];
}

function openSql(env: WorkerEnv, config: Config): Sql & { end(): Promise<void> } {
  // Multi-row statements, no COPY: the Worker's socket is the platform's, not node:net (functions/index/staging.ts).
  return createSql(env.HYPERDRIVE?.connectionString ?? config.databaseUrl, { max: 1, copy: false });
}

function backfillPorts(state: IsolateState, sql: Sql): BackfillPorts {
  const { config, log, metrics } = state;
  const guarded = createGuardedFetch({ allowPrivate: config.identityAllowPrivate });
  return {
    clock: systemClock, log: log.child('backfill'), metrics: metrics.metrics, sql,
    fetch: withWorkerRepoLimit(guarded, config.workerMaxRepoBytes, metrics.metrics),
    hostSlots: createHostSlots(config.backfillerPerHost),
    // No Redis cache here: each invocation resolves the documents it needs.
    identity: createIdentityResolver({ fetch: (input, init) => fetch(input, init), plcUrl: config.plcUrl, allowPrivate: config.identityAllowPrivate, webFetch: guarded }),
    handles: createHandleResolver({
      fetch: guarded,
      // A handle's domain that DoH answers SERVFAIL for, while it resolves the directory, is that domain's own broken
      // DNS (identity_failed: the handle unverified, the repo indexed), not an outage re-sent forever.
      resolverAnswers: createResolverCheck({ referenceHost: new URL(config.plcUrl).hostname, lookup: systemDns.lookupHost }),
      ...(config.handleResolverUrl === undefined ? {} : { serviceUrl: config.handleResolverUrl }),
    }),
    timeoutMs: config.backfillerTimeoutMs,
    stallMs: config.backfillerStallMs,
    concurrency: 1,
    filter: config.filter,
    limits: { ...DEFAULT_REPO_LIMITS, maxBytes: config.backfillerMaxRepoBytes },
  };
}

function appFor(state: IsolateState, sql: Sql, env: WorkerEnv): Hono {
  const { config, log, metrics } = state;
  // Listed only when a binding is missing, so a sound deployment's /ready is Postgres alone.
  const missing = missingBindings(env);
  return createApp({
    auth: { dev: config.env === 'dev', token: config.apiToken },
    bodyLimitBytes: config.httpBodyLimitBytes,
    labelQueryTimeoutMs: config.labelQueryTimeoutMs,
    ports: { clock: systemClock, log, metrics: metrics.metrics, sql },
    metrics: { contentType: metrics.registry.contentType, render: () => metrics.registry.metrics() },
    readiness: [
      { name: 'postgres', check: async () => void (await sql.query('select 1')) },
      ...(missing === undefined ? [] : [{ name: 'setup', check: () => Promise.reject(missing) }]),
    ],
    // No Redis here: each batch resolves the DID documents it needs once (functions/label/verify-label.ts).
    label: {
      identity: createIdentityResolver({ fetch: (input, init) => fetch(input, init), plcUrl: config.plcUrl, allowPrivate: config.identityAllowPrivate }),
      trustedSources: new Set(config.labelTrustedSources),
    },
    backfill: backfillPorts(state, sql),
  });
}

/** A binding wrangler.toml declares that the Worker was deployed without: the operator's mistake, as a bad var is. */
class MissingBindingError extends SkytideError {
  readonly names: string[];
  constructor(names: string[]) {
    super('invalid_config', `the ${names.join(' and ')} binding${names.length > 1 ? 's are' : ' is'} missing (wrangler.toml [[queues.producers]])`, { names });
    this.name = 'MissingBindingError';
    this.names = names;
  }
}

function missingBindings(env: WorkerEnv): MissingBindingError | undefined {
  const names = (['BACKFILL_QUEUE', 'BACKFILL_DLQ'] as const).filter((name) => env[name] === undefined);
  return names.length === 0 ? undefined : new MissingBindingError(names);
}

/** What is wrong with the setup when `err` says so (each problem names its variable or binding), else undefined. */
function setupProblems(err: unknown): string[] | undefined {
  if (err instanceof ConfigError) return err.problems;
  if (err instanceof MissingBindingError) return [err.message];
  return undefined;
}

/**
 * How long a backfill message waits before it comes back while the setup is wrong. Long: nothing changes until an
 * operator deploys a fix, and each delivery costs an invocation. With no producer to re-send through (BACKFILL_QUEUE
 * missing) the platform's retry is all there is, and it counts: then the longest delay Queues allow, for as few as
 * can be before max_retries.
 */
const SETUP_WAIT_MS = 15 * 60_000;
const SETUP_WAIT_COUNTED_MS = 43_200_000;

/** A batch that arrived under a wrong setup: each message sent again later with its attempts so far, and acked. */
async function waitOutSetup(batch: CloudflareMessageBatch, env: WorkerEnv, problems: string[]): Promise<void> {
  // The config did not parse: log at error level whatever LOG_LEVEL says (it may be the variable refused).
  const log = createLogger({ level: 'info', component: 'worker', write: (line) => console.log(line) });
  const producer = env.BACKFILL_QUEUE;
  log.error('backfill batch waits for the setup to be fixed', {
    problems, messages: batch.messages.length, delayMs: producer === undefined ? SETUP_WAIT_COUNTED_MS : SETUP_WAIT_MS, attemptCounted: producer === undefined,
  });
  if (producer === undefined) {
    for (const raw of batch.messages) raw.retry({ delaySeconds: delaySeconds(SETUP_WAIT_COUNTED_MS) });
    return;
  }
  // The outage re-send (cloudflare-work-queue.ts): no dead letter can come of it (no maxAttempts applies, nothing is
  // dead-lettered), so a missing BACKFILL_DLQ is never sent to.
  const never = { send: () => Promise.reject(new MissingBindingError(['BACKFILL_DLQ'])), sendBatch: () => Promise.reject(new MissingBindingError(['BACKFILL_DLQ'])) };
  await createCloudflareWorkQueue<RepoBackfillEntry>({
    producer,
    deadLetters: env.BACKFILL_DLQ ?? never,
    maxAttempts: Infinity,
    onSendFailed: ({ id, err }) => log.error('backfill message re-send failed, retried', { id, err: describeError(err) }),
  }).consume(batch, async (messages) => {
    for (const message of messages) message.retry({ outage: true, delayMs: SETUP_WAIT_MS, reason: 'invalid_config' });
  });
}

/** What `fetch` answers when the vars do not parse: /health still answers (liveness), /ready names the problems. */
function setupResponse(request: Request, problems: string[]): Response {
  const path = new URL(request.url).pathname;
  const json = (body: unknown, status: number) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  if (path === '/health') return json({ status: 'ok' }, 200);
  const error = problems.join('; ');
  if (path === '/ready') return json({ status: 'not_ready', checks: [{ name: 'setup', ok: false, error }], degraded: [] }, 503);
  return json({ error: 'invalid_config', message: `invalid configuration: ${error}` }, 503);
}

function backfillQueue(env: WorkerEnv, state: IsolateState) {
  if (env.BACKFILL_QUEUE === undefined || env.BACKFILL_DLQ === undefined) throw missingBindings(env)!;
  return createCloudflareWorkQueue<RepoBackfillEntry>({
    producer: env.BACKFILL_QUEUE,
    deadLetters: env.BACKFILL_DLQ,
    maxAttempts: state.config.backfillerMaxRetries,
    // Queues refused the send (down, rate-limited): that message alone is retried, with an attempt counted.
    onSendFailed: ({ id, what, err }) => {
      state.log.error('backfill message send failed, retried', { id, what, err: describeError(err) });
      state.metrics.metrics.inc('skytide_work_queue_messages_total', { queue: BACKFILL, outcome: 'send_failed' });
    },
    // Not expected (backfillMessage settles every outcome, errors included), but a throw must not fail the
    // invocation: what the batch acked stays acked, the rest is retried (counted) or dead-lettered at maxAttempts.
    onDeadLetter: (reason) => state.metrics.metrics.inc('skytide_dead_letters_total', { stream: BACKFILL, reason }),
    onHandlerError: ({ err, retried, deadLettered }) => {
      state.log.error('backfill batch handler threw; its unsettled messages retried', { retried, deadLettered, err: describeError(err) });
      for (const [outcome, ids] of [['retry', retried], ['dead', deadLettered]] as const) {
        if (ids.length > 0) state.metrics.metrics.inc('skytide_work_queue_messages_total', { queue: BACKFILL, outcome }, ids.length);
      }
    },
  });
}

/** One message: backfilled, then settled by its outcome; an outage is no verdict and costs no attempt. */
async function backfillMessage(message: QueueMessage<RepoBackfillEntry>, ports: BackfillPorts, state: IsolateState): Promise<void> {
  const count = (outcome: 'ack' | 'retry' | 'outage' | 'dead') => state.metrics.metrics.inc('skytide_work_queue_messages_total', { queue: BACKFILL, outcome });
  const parsed = parseRepoBackfillEntry(message.body);
  if (!parsed.ok) {
    state.log.warn('backfill message is not a repo_backfill entry', { id: message.id, err: parsed.message });
    message.deadLetter('invalid_event');
    count('dead');
    return;
  }
  try {
    const { outcomes } = await backfillRepos([parsed.value], ports);
    count(settleBackfill(message, outcomes[0]!, { outageDelayMs: state.config.workerOutageDelayMs }));
  } catch (err) {
    const outage = dependencyErrorIn(err);
    if (outage !== undefined) {
      state.log.warn('backfill waits on an outage', { did: parsed.value.did, dependency: outage.dependency, err: describeError(err) });
      state.metrics.metrics.inc('skytide_outage_waits_total', { dependency: outage.dependency });
      // Waited out (WORKER_OUTAGE_DELAY_MS): sent again, no attempt counted.
      message.retry({ outage: true, delayMs: state.config.workerOutageDelayMs, reason: 'dependency_unavailable' });
      count('outage');
    } else {
      state.log.error('backfill failed', { did: parsed.value.did, err: describeError(err) });
      message.retry({ reason: 'handler_error', delayMs: retryDelayMs(message.attempts) });
      count('retry');
    }
  }
}

export default {
  async fetch(request: Request, env: WorkerEnv, ctx: ExecutionContext): Promise<Response> {
    let state: IsolateState;
    try {
      state = isolateState(env);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      return setupResponse(request, err.problems);
    }
    const sql = openSql(env, state.config);
    try {
      return await appFor(state, sql, env).fetch(request);
    } finally {
      ctx.waitUntil(sql.end());
    }
  },

  async scheduled(controller: ScheduledController, env: WorkerEnv, ctx: ExecutionContext): Promise<void> {
    const state = isolateState(env);
    const { config, log } = state;
    const sql = openSql(env, config);
    try {
      const ticks = await sweepTick({
        sql,
        fetch: createGuardedFetch({ allowPrivate: config.identityAllowPrivate }),
        queue: backfillQueue(env, state),
        hosts: config.relayHosts,
        filter: config.filter,
        pageSize: config.sweepPageSize,
        pageTimeoutMs: config.sweepPageTimeoutMs,
        pagesPerTick: config.workerSweepPagesPerTick,
        pageAttempts: config.sweepPageAttempts,
        maxSkippedInARow: config.sweepMaxSkippedInARow,
        everyMs: config.workerSweepEveryMs,
        leaseMs: config.sweepLeaseTtlMs,
        holder: `worker-${controller.scheduledTime}-${crypto.randomUUID()}`,
        now: () => Date.now(),
        log: log.child('sweep'),
        metrics: state.metrics.metrics,
      });
      log.info('worker sweep tick', { cron: controller.cron, hosts: ticks });
    } finally {
      ctx.waitUntil(sql.end());
    }
  },

  async queue(batch: CloudflareMessageBatch, env: WorkerEnv, ctx: ExecutionContext): Promise<void> {
    let state: IsolateState;
    let queue: ReturnType<typeof backfillQueue>;
    try {
      state = isolateState(env);
      queue = backfillQueue(env, state);
    } catch (err) {
      const problems = setupProblems(err);
      if (problems === undefined) throw err;
      return waitOutSetup(batch, env, problems);
    }
    const sql = openSql(env, state.config);
    try {
      const ports = backfillPorts(state, sql);
      // One repo at a time: an isolate has 128 MB, and a repo's CAR is held whole while it is verified.
      await queue.consume(batch, async (messages) => {
        for (const message of messages) await backfillMessage(message, ports, state);
      });
    } finally {
      ctx.waitUntil(sql.end());
    }
  },
};
