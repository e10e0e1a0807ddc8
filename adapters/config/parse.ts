// Parses a plain env record (process.env or Workers bindings) into a typed Config, once, at start-up. Every bad value
// is named in one error; nothing falls back silently.
import { MAX_TIMER_MS, OWNED_PREFIXES, VARS, type VarSpec } from './vars.ts';
import { parseCron } from './cron.ts';
import { unixSocketOf } from '../postgres/socket-url.ts';
import { configuredDidProblem } from '../../functions/atproto/syntax/did.ts';
import { KEEP_EVERYTHING, parseEventFilter, type EventFilter } from '../../functions/event-filter.ts';
import { hostKey, STREAMS } from '../redis/keys.ts';
import { READ_BLOCK_MS } from '../redis/read-block.ts';
import { SkytideError } from '../../functions/errors.ts';

export interface Config {
  env: 'production' | 'dev';
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  redisUrl: string;
  redisKeyPrefix: string;
  databaseUrl: string;
  databasePoolMax: number;
  databaseCopyMinRows: number;
  migrateOnStart: boolean;
  /** SKYTIDE_TASK_STUCK_MS: a supervised task silent this long is hung (0: no watchdog). */
  taskStuckMs: number;
  relayHosts: string[];
  highWaterMark: number;
  ingesterBatchSize: number;
  ingesterBatchTimeoutMs: number;
  firehoseInitialCursor: number | undefined;
  trustUpstream: boolean;
  identityWaitMaxFrames: number;
  identityDidWaitMs: number;
  /** INGESTER_COLLECTIONS, INGESTER_DIDS and INGESTER_EXCLUDE_DIDS, checked and compiled. */
  filter: EventFilter;
  labelerHosts: string[];
  labelerInitialCursor: number;
  /** INGESTER_LABEL_HIGH_WATER_MARK, or INGESTER_HIGH_WATER_MARK when it is unset. */
  labelHighWaterMark: number;
  labelTrustedSources: string[];
  /** INGESTER_LABEL_PARKED_HIGH_WATER_MARK: labels parked from one labeler at which its subscription pauses. */
  labelParkedHighWaterMark: number;
  /** LABEL_PARKED_RECHECK_MAX_MS: the longest wait between two checks of a host that parked labels wait on. */
  labelParkedRecheckMaxMs: number;
  /** LABEL_QUERY_TIMEOUT_MS: the statement timeout of queryLabels (functions/label/query.ts queryLabelsInTime). */
  labelQueryTimeoutMs: number;
  indexerConsumer: string | undefined;
  indexerStreams: string[];
  indexerBatchSize: number;
  indexerConcurrency: number;
  indexerSplit: number;
  /** INDEXER_SHARDS: the shards this process's index loops read; empty: all of them. */
  indexerShards: number[];
  indexerMaxAttempts: number;
  indexerClaimIdleMs: number;
  backfillerConcurrency: number;
  backfillerMaxRetries: number;
  backfillerTimeoutMs: number;
  /** BACKFILLER_STALL_MS: a try of a repo's download that receives nothing this long is cut (below SKYTIDE_TASK_STUCK_MS). */
  backfillerStallMs: number;
  backfillerOutput: 'index' | 'stream';
  backfillerPerHost: number;
  backfillerMaxRepoBytes: number;
  workerMaxRepoBytes: number;
  workerSweepPagesPerTick: number;
  workerSweepEveryMs: number;
  workerOutageDelayMs: number;
  plcUrl: string;
  identityAllowPrivate: boolean;
  handleResolverUrl: string | undefined;
  sweepCron: string | undefined;
  sweepPageSize: number;
  sweepPageTimeoutMs: number;
  sweepPageAttempts: number;
  sweepMaxSkippedInARow: number;
  sweepLeaseTtlMs: number;
  httpHost: string;
  httpPort: number;
  httpBodyLimitBytes: number;
  /** INGESTER_MAX_FRAME_BYTES. */
  maxFrameBytes: number;
  apiToken: string | undefined;
  /** STREAM_SHARDS. */
  streamShards: number;
  /** REDIS_CLUSTER_NODES as host:port seeds; empty: one Redis at redisUrl. */
  redisClusterNodes: string[];
  /** REDIS_SOCKET_TIMEOUT_MS (adapters/redis/client.ts). */
  redisSocketTimeoutMs: number;
}

/** Every bad variable at once (`problems`, one line each); the process refuses to start. */
export class ConfigError extends SkytideError {
  readonly problems: string[];
  constructor(problems: string[]) {
    super('invalid_config', `invalid configuration: ${problems.join('; ')}`, { problems });
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

type Env = Record<string, string | undefined>;
type Parsed = string | number | boolean | string[] | undefined;

// Each variable's value type, read off its row in VARS: what parseOne returns for its `type` (an enum's own values),
// and undefined only for a variable with no default. Config's fields are checked against these at compile time.
type Spec = (typeof VARS)[number];
type VarName = Spec['name'];
type ValueOfSpec<S> = S extends { type: 'int' }
  ? number
  : S extends { type: 'bool' }
    ? boolean
    : S extends { type: 'list' }
      ? string[]
      : S extends { type: 'enum'; values: readonly (infer V)[] }
        ? V
        : string;
export type VarValue<N extends VarName> = Extract<Spec, { name: N }> extends infer S
  ? S extends { default: string }
    ? ValueOfSpec<S>
    : ValueOfSpec<S> | undefined
  : never;

function parseOne(spec: VarSpec, raw: string | undefined, problems: string[]): Parsed {
  const value = raw === undefined || raw === '' ? spec.default : raw;
  if (value === undefined) return undefined;
  switch (spec.type) {
    case 'string':
      return value;
    case 'url': {
      const problem = urlProblem(spec, value);
      if (problem === undefined) return value;
      problems.push(`${spec.name} ${problem}`);
      return undefined;
    }
    case 'int': {
      if (!/^-?\d+$/.test(value.trim())) {
        problems.push(`${spec.name}=${JSON.stringify(value)} is not an integer`);
        return undefined;
      }
      const n = Number(value);
      if (!Number.isSafeInteger(n) || (spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) {
        // A millisecond value past a timer's limit would fire at once, not late: said, for it reads like a mere big number.
        const why = spec.max === MAX_TIMER_MS && n > spec.max ? ` (${MAX_TIMER_MS} ms, 24.8 days, is the longest a timer can wait)` : '';
        problems.push(`${spec.name}=${value} is out of range [${spec.min ?? '-inf'}, ${spec.max ?? 'inf'}]${why}`);
        return undefined;
      }
      return n;
    }
    case 'bool':
      if (['true', '1', 'yes'].includes(value.toLowerCase())) return true;
      if (['false', '0', 'no'].includes(value.toLowerCase())) return false;
      problems.push(`${spec.name}=${JSON.stringify(value)} is not a boolean`);
      return undefined;
    case 'list':
      return value
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
    case 'enum':
      if (spec.values?.includes(value)) return value;
      problems.push(`${spec.name}=${JSON.stringify(value)} is not one of ${spec.values?.join('|')}`);
      return undefined;
  }
}

/**
 * Why a URL variable's value cannot be used, or undefined. `new URL` alone takes `db.internal:5432/skytide` (scheme
 * `db.internal:`), which postgres.js then reads as a database on localhost: an outage waited out forever instead of a
 * refusal at start-up. The value is never echoed (it may hold a password); its scheme is, being before any secret.
 */
function urlProblem(spec: VarSpec, value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'is not a URL';
  }
  const scheme = url.protocol.slice(0, -1);
  const allowed = spec.schemes ?? [];
  if (allowed.length > 0 && !allowed.includes(scheme)) {
    return `must start with ${allowed.map((s) => `${s}://`).join(' or ')} (it starts with ${JSON.stringify(url.protocol)})`;
  }
  // libpq's Unix-socket form (`postgresql:///index?host=/run/postgresql`) names a directory instead of a host.
  if (url.hostname === '' && !(allowed.includes('postgres') && unixSocketOf(value) !== undefined)) return 'names no host';
  // A Redis URL's path is its database's number. ioredis reads `/abc` as none (database 0) and `/5/x` as 5: refused,
  // as is any path but none, `/` or `/<digits>`. One the server lacks is found at connect (adapters/redis/client.ts).
  if ((scheme === 'redis' || scheme === 'rediss') && !/^(\/\d*)?$/.test(url.pathname)) {
    return `must name a database by its number (/0, /1, ...) or none, not the path ${JSON.stringify(url.pathname)}`;
  }
  // ioredis also reads `?db=`, over the path's, unchecked (`?db=abc` selected NaN): the path alone names it.
  if ((scheme === 'redis' || scheme === 'rediss') && url.searchParams.has('db')) return 'must name its database in the path (/0, /1, ...), not as ?db=';
  return undefined;
}

/** A URL's path, or '' when it is no URL (refused on its own). */
function pathOf(value: string): string {
  try {
    return new URL(value).pathname;
  } catch {
    return '';
  }
}

/** `host[:port]`, optionally with a scheme: what a subscription URL can be built from. */
function isHost(value: string): boolean {
  const withScheme = /^[a-z]+:\/\//i.test(value) ? value : `wss://${value}`;
  try {
    const url = new URL(withScheme);
    return ['http:', 'https:', 'ws:', 'wss:'].includes(url.protocol) && url.hostname.length > 0 && (url.pathname === '/' || url.pathname === '') && url.search === '';
  } catch {
    return false;
  }
}

/**
 * Entries of `hosts` that are one host by its cursor key (hostKey: `relay.example` and `wss://relay.example/`), as
 * `key (entry, entry)`. Two subscriptions of one host would share its cursor, each moving it over the other's seqs,
 * and their two tasks one name, by which the supervisor watches them and reports them at shutdown.
 */
function duplicateHosts(hosts: readonly string[]): string[] {
  const byKey = new Map<string, string[]>();
  for (const h of hosts) byKey.set(hostKey(h), [...(byKey.get(hostKey(h)) ?? []), h]);
  return [...byKey].filter(([, entries]) => entries.length > 1).map(([key, entries]) => `${key} (${entries.join(', ')})`);
}

export interface ParsedConfig {
  config: Config;
  /** Variables under our prefixes that no spec names: likely typos, logged as warnings. */
  unknown: string[];
}

/** The shortest SKYTIDE_TASK_STUCK_MS other than 0. */
export const MIN_TASK_STUCK_MS = 60_000;

export function parseConfig(env: Env): ParsedConfig {
  const problems: string[] = [];
  const v = new Map<string, Parsed>();
  // Values that fail to parse are undefined below; nothing reads them before the one error naming them all.
  for (const spec of VARS as readonly VarSpec[]) v.set(spec.name, parseOne(spec, env[spec.name], problems));
  const known = new Set<string>(VARS.map((s) => s.name));
  const unknown = Object.keys(env).filter((k) => OWNED_PREFIXES.some((p) => k.startsWith(p)) && !known.has(k));
  // NOTE: the one assertion: parseOne returns, for each spec's type, exactly what VarValue says (a value that failed to
  // parse is undefined, and the error below is thrown before anything reads it).
  const get = <N extends VarName>(name: N) => v.get(name) as VarValue<N>;
  const config: Config = {
    env: get('SKYTIDE_ENV'),
    logLevel: get('LOG_LEVEL'),
    redisUrl: get('REDIS_URL'),
    redisKeyPrefix: get('REDIS_KEY_PREFIX'),
    databaseUrl: get('DATABASE_URL'),
    databasePoolMax: get('DATABASE_POOL_MAX'),
    databaseCopyMinRows: get('DATABASE_COPY_MIN_ROWS'),
    migrateOnStart: get('SKYTIDE_MIGRATE_ON_START'),
    taskStuckMs: get('SKYTIDE_TASK_STUCK_MS'),
    relayHosts: get('INGESTER_RELAY_HOSTS'),
    highWaterMark: get('INGESTER_HIGH_WATER_MARK'),
    ingesterBatchSize: get('INGESTER_BATCH_SIZE'),
    ingesterBatchTimeoutMs: get('INGESTER_BATCH_TIMEOUT_MS'),
    firehoseInitialCursor: get('FIREHOSE_INITIAL_CURSOR'),
    trustUpstream: get('INGESTER_TRUST_UPSTREAM'),
    identityWaitMaxFrames: get('INGESTER_IDENTITY_WAIT_MAX_FRAMES'),
    identityDidWaitMs: get('INGESTER_IDENTITY_DID_WAIT_MS'),
    filter: KEEP_EVERYTHING,
    labelerHosts: get('INGESTER_LABELER_HOSTS'),
    labelerInitialCursor: get('LABELER_INITIAL_CURSOR'),
    labelHighWaterMark: get('INGESTER_LABEL_HIGH_WATER_MARK') ?? get('INGESTER_HIGH_WATER_MARK'),
    labelTrustedSources: get('LABEL_TRUSTED_SOURCES'),
    labelParkedHighWaterMark: get('INGESTER_LABEL_PARKED_HIGH_WATER_MARK'),
    labelParkedRecheckMaxMs: get('LABEL_PARKED_RECHECK_MAX_MS'),
    labelQueryTimeoutMs: get('LABEL_QUERY_TIMEOUT_MS'),
    indexerConsumer: get('INDEXER_CONSUMER'),
    indexerStreams: get('INDEXER_STREAMS'),
    indexerBatchSize: get('INDEXER_BATCH_SIZE'),
    indexerConcurrency: get('INDEXER_CONCURRENCY'),
    indexerSplit: get('INDEXER_SPLIT'),
    indexerShards: [],
    indexerMaxAttempts: get('INDEXER_MAX_ATTEMPTS'),
    indexerClaimIdleMs: get('INDEXER_CLAIM_IDLE_MS'),
    backfillerConcurrency: get('BACKFILLER_CONCURRENCY'),
    backfillerMaxRetries: get('BACKFILLER_MAX_RETRIES'),
    backfillerTimeoutMs: get('BACKFILLER_TIMEOUT_MS'),
    backfillerStallMs: get('BACKFILLER_STALL_MS'),
    backfillerOutput: get('BACKFILLER_OUTPUT'),
    backfillerPerHost: get('BACKFILLER_PER_HOST'),
    backfillerMaxRepoBytes: get('BACKFILLER_MAX_REPO_BYTES'),
    workerMaxRepoBytes: get('WORKER_MAX_REPO_BYTES'),
    workerSweepPagesPerTick: get('WORKER_SWEEP_PAGES_PER_TICK'),
    workerSweepEveryMs: get('WORKER_SWEEP_EVERY_MS'),
    workerOutageDelayMs: get('WORKER_OUTAGE_DELAY_MS'),
    plcUrl: get('PLC_URL'),
    identityAllowPrivate: get('IDENTITY_ALLOW_PRIVATE'),
    handleResolverUrl: get('HANDLE_RESOLVER_URL'),
    sweepCron: get('SWEEP_CRON'),
    sweepPageSize: get('SWEEP_PAGE_SIZE'),
    sweepPageTimeoutMs: get('SWEEP_PAGE_TIMEOUT_MS'),
    sweepPageAttempts: get('SWEEP_PAGE_ATTEMPTS'),
    sweepMaxSkippedInARow: get('SWEEP_MAX_SKIPPED_IN_A_ROW'),
    sweepLeaseTtlMs: get('SWEEP_LEASE_TTL_MS'),
    httpHost: get('HTTP_HOST'),
    httpPort: get('HTTP_PORT'),
    httpBodyLimitBytes: get('HTTP_BODY_LIMIT_BYTES'),
    maxFrameBytes: get('INGESTER_MAX_FRAME_BYTES'),
    apiToken: get('SKYTIDE_API_TOKEN'),
    streamShards: get('STREAM_SHARDS'),
    redisClusterNodes: get('REDIS_CLUSTER_NODES'),
    redisSocketTimeoutMs: get('REDIS_SOCKET_TIMEOUT_MS'),
  };
  // Checks across or inside values, joined into the one error that names every bad variable.
  if (config.sweepCron !== undefined) {
    try {
      // One that parses but never fires (Feb 30) would stop the whole process at start-up: refused here instead.
      parseCron(config.sweepCron).next(new Date());
    } catch (err) {
      problems.push(`SWEEP_CRON: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  // Below a minute a task waiting legitimately (its sleeps beat every 10 s, long-runners/sleep.ts) could be taken for hung.
  if (config.taskStuckMs > 0 && config.taskStuckMs < MIN_TASK_STUCK_MS) problems.push(`SKYTIDE_TASK_STUCK_MS=${config.taskStuckMs} must be 0 (no watchdog) or at least ${MIN_TASK_STUCK_MS}`);
  // A repo's download beats as each chunk arrives, however long its deadline (BACKFILLER_TIMEOUT_MS); one that receives
  // nothing is cut at BACKFILLER_STALL_MS, which must come first: a PDS that stalls is the repo's failure (retried), not
  // a hang of ours that restarts the process.
  else if (config.taskStuckMs > 0 && config.taskStuckMs <= config.backfillerStallMs) {
    problems.push(`SKYTIDE_TASK_STUCK_MS=${config.taskStuckMs} must be above BACKFILLER_STALL_MS (${config.backfillerStallMs}), or 0`);
  }
  // A Redis that stops answering while its connections look up is seen down (the watchdog then pauses) only once
  // REDIS_SOCKET_TIMEOUT_MS closes them, a consumer's blocked read READ_BLOCK_MS later: until then it looks like a hang.
  if (config.taskStuckMs > 0 && config.taskStuckMs <= config.redisSocketTimeoutMs + READ_BLOCK_MS) {
    problems.push(`SKYTIDE_TASK_STUCK_MS=${config.taskStuckMs} must be above REDIS_SOCKET_TIMEOUT_MS (${config.redisSocketTimeoutMs}) plus a consumer's ${READ_BLOCK_MS} ms blocking read, or 0`);
  }
  const streams: readonly string[] = [STREAMS.firehoseLive, STREAMS.firehoseBackfill];
  const badStreams = config.indexerStreams.filter((s) => !streams.includes(s));
  if (badStreams.length > 0) problems.push(`INDEXER_STREAMS names unknown streams: ${badStreams.join(', ')}`);
  const shards = get('INDEXER_SHARDS');
  const badShards = shards.filter((s) => !/^\d+$/.test(s) || Number(s) >= (config.streamShards ?? 1));
  if (badShards.length > 0) problems.push(`INDEXER_SHARDS names shards that are not 0 to STREAM_SHARDS - 1: ${badShards.join(', ')}`);
  else config.indexerShards = [...new Set(shards.map(Number))].sort((a, b) => a - b);
  for (const d of config.labelTrustedSources) {
    const problem = configuredDidProblem(d);
    if (problem !== undefined) problems.push(`LABEL_TRUSTED_SOURCES: ${JSON.stringify(d)} ${problem}`);
  }
  const badRelays = config.relayHosts.filter((h) => !isHost(h));
  if (badRelays.length > 0) problems.push(`INGESTER_RELAY_HOSTS holds what is not a host: ${badRelays.join(', ')}`);
  const badHosts = config.labelerHosts.filter((h) => !isHost(h));
  if (badHosts.length > 0) problems.push(`INGESTER_LABELER_HOSTS holds what is not a host: ${badHosts.join(', ')}`);
  for (const [name, hosts] of [['INGESTER_RELAY_HOSTS', config.relayHosts], ['INGESTER_LABELER_HOSTS', config.labelerHosts]] as const) {
    const twice = duplicateHosts(hosts);
    if (twice.length > 0) problems.push(`${name} names a host more than once (one cursor and one task per host): ${twice.join('; ')}`);
  }
  const filter = parseEventFilter({ collections: get('INGESTER_COLLECTIONS'), dids: get('INGESTER_DIDS'), excludeDids: get('INGESTER_EXCLUDE_DIDS') });
  if (filter.ok) config.filter = filter.filter;
  else problems.push(...filter.problems);
  // What a bearer token can carry (RFC 6750's b64token, as hono's bearerAuth in adapters/http/auth.ts checks it): any
  // other token could never be sent, and every mutating route would answer 401. The value is a secret: not echoed.
  if (config.apiToken !== undefined && !/^[A-Za-z0-9._~+/-]+=*$/.test(config.apiToken)) {
    problems.push('SKYTIDE_API_TOKEN holds characters a bearer token cannot carry (letters, digits, - . _ ~ + / and trailing = only)');
  }
  const badNodes = config.redisClusterNodes.filter((n) => !/^[^\s:/]+:\d{1,5}$/.test(n));
  if (badNodes.length > 0) problems.push(`REDIS_CLUSTER_NODES holds what is not host:port: ${badNodes.join(', ')}`);
  // A Redis Cluster has database 0 only, and the cluster client ignores a database named in REDIS_URL.
  if (config.redisClusterNodes.length > 0 && /^\/0*[1-9]\d*$/.test(pathOf(config.redisUrl))) {
    problems.push(`REDIS_URL names database ${pathOf(config.redisUrl).slice(1)}, but a Redis Cluster (REDIS_CLUSTER_NODES) has database 0 only`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { config, unknown };
}
