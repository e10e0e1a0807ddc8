// The `skytide` command. Parses arguments and the environment once, then hands over to one command. Every path
// ends in an explicit exit code: a long-runner never exits silently.
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { parseConfig, ConfigError, type Config } from '../../adapters/config/parse.ts';
import { applyMigrations } from '../../adapters/postgres/migrate.ts';
import { readServerSettings, serverSettingProblems, writeSettingAdvice, writeSettingsOf } from '../../adapters/postgres/server-settings.ts';
import { dependencyErrorIn, describeError } from '../../functions/errors.ts';
import { DeadlineError, withDeadline } from '../../adapters/http/deadline.ts';
import { isValidDid, unresolvableDid } from '../../functions/atproto/syntax/did.ts';
import { supervise, type Task } from '../supervisor.ts';
import { outageOf, waitOut } from '../wait-out.ts';
import { createLogger } from '../../adapters/observability/logger.ts';
import { createResources, type Resources } from './resources.ts';
import { runTasks, stateGaugesFor, sweeperFor, TASK_KINDS, type TaskKind } from './tasks.ts';
import { createStatusReader } from '../../adapters/observability/pipeline-status.ts';
import { backfillRepos } from '../../functions/backfill-repo/handler.ts';
import { sweepProgress } from '../sweeper/progress.ts';
import { progressLine } from './progress-line.ts';
// The backend the `#ecdsa` seam picked for this runtime (package.json "imports"), never a backend named directly.
import { K256_BACKEND } from '#ecdsa';
import { configCommand, consumersCommand, dlqCommand, forgetCommand, type OperateOptions } from './operate.ts';
import { readFileSync } from 'node:fs';
import type { DevControls } from '../../adapters/http/routes/status-page.ts';
import type { LocalNetworkOptions } from '../dev/local-network.ts';

const PROJECT_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '../..');

const USAGE = `usage: skytide <command> [options]

commands:
  migrate [--adopt-appview]       apply infra/migrations to DATABASE_URL; --adopt-appview first brings a schema the
                                  AppView's own migrations made to skytide's, keeping its rows (refused without it)
  run [--only a,b] [--migrate]    run long-runners in one supervised process (${TASK_KINDS.join(', ')})
  status                          print stream lengths, pending and dead entries, and cursors as JSON
  reprocess <did>                 re-backfill one account now and print what changed
  sweep                           list every repo of INGESTER_RELAY_HOSTS into repo_backfill (resumes an interrupted sweep;
                                  exits 3 when a host was already being swept elsewhere, after sweeping the others; 143 or
                                  130 when SIGTERM or SIGINT stopped it first; each host's progress as one JSON line)
  dev [--rate N] [--accounts N] [--seed N]
                                  run everything in dev mode (migrations applied, auth relaxed); with no
                                  INGESTER_RELAY_HOSTS, against a simulated network (PLC, PDS, relay with faults,
                                  N accounts, a bot writing N actions/s); no DATABASE_URL: PGlite in .skytide/dev-db;
                                  no REDIS_URL: a private redis-server, else an in-process Redis (not durable)
  dlq list|replay|purge <stream>  a stream's dead letters: list them, move them back with attempts reset, or
                                  delete them (--yes); --reason R and --limit N select which
  forget <did> [--yes]            remove every row the index holds of a DID the filters drop (without --yes: say how
                                  many records, remove nothing); refused for a DID the filters keep
  consumers [--prune]             every consumer of every group with its idle time and pending entries; --prune
                                  removes those idle over --idle-ms (default 1 h) that hold nothing
  config                          the configuration in effect, secrets masked
  --version                       the skytide version

Configuration is read from the environment; see the README for every variable.`;

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

function positiveInt(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1) fail(`--${name} must be a positive integer`);
  return Number(value);
}

function operateOptions(values: { limit?: string; reason?: string; yes?: boolean; prune?: boolean; 'idle-ms'?: string }): OperateOptions {
  const limit = positiveInt('limit', values.limit);
  const idleMs = positiveInt('idle-ms', values['idle-ms']);
  return {
    ...(limit === undefined ? {} : { limit }), ...(idleMs === undefined ? {} : { idleMs }),
    ...(values.reason === undefined ? {} : { reason: values.reason }),
    yes: values.yes === true, prune: values.prune === true,
    write: (line) => process.stdout.write(line + '\n'),
  };
}

function nonNegative(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) fail(`--${name} must be a number, 0 or more`);
  return n;
}

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

function parseOnly(value: string | undefined): TaskKind[] {
  if (value === undefined) return [...TASK_KINDS];
  const kinds = value.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = kinds.filter((k) => !(TASK_KINDS as readonly string[]).includes(k));
  if (bad.length > 0) fail(`--only: unknown task kind(s) ${bad.join(', ')}; expected ${TASK_KINDS.join(', ')}`);
  return kinds as TaskKind[];
}

/** Delays between tries of `run --migrate` while Postgres is down (it tries for as long as it takes). */
const MIGRATE_RETRY = { baseMs: 500, maxMs: 15_000 } as const;

/**
 * Applies the pending migrations, exiting at once on SIGTERM or SIGINT (`skytide migrate`, and `run --migrate`, the
 * image's default command). As PID 1 in a container node has no default SIGTERM action: without this, `docker stop`
 * waits out its timeout. The pending migrations are one transaction, which the server rolls back when the connection
 * goes. With `waitForPostgres` (a long-runner starting: `run --migrate`) a Postgres that is down or still starting is
 * waited out with backoff, logged, rather than ending the process: exiting would only crash-loop it until Postgres is
 * back. `skytide migrate`, a one-shot, fails instead.
 */
async function applyMigrationsInterruptibly(r: Resources, waitForPostgres = false, adoptAppView = false): Promise<void> {
  const interrupted = (signal: NodeJS.Signals) => {
    r.log.error('migrate interrupted, nothing applied', { task: 'migrate', signal });
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGTERM', interrupted);
  process.once('SIGINT', interrupted);
  try {
    // Without waitForPostgres nothing is an outage to wait out: the first failure ends `skytide migrate`.
    const migrated = await waitOut(() => applyMigrations(r.sql(), undefined, { adoptAppView }), {
      outage: waitForPostgres ? outageOf('postgres') : () => undefined, backoff: MIGRATE_RETRY,
      warn: ({ waits, delayMs, why }) => r.log.warn('postgres unavailable: migrations wait for it', { task: 'migrate', waits, retryInMs: delayMs, err: why }),
    });
    // No signal given: it waits until Postgres answers (a SIGTERM or SIGINT exits the process above).
    if ('stopped' in migrated) throw migrated.err;
    r.log.info('migrations applied', { applied: migrated.value, ...(migrated.waits === 0 ? {} : { waits: migrated.waits }) });
  } finally {
    process.off('SIGTERM', interrupted);
    process.off('SIGINT', interrupted);
  }
}

async function migrate(config: Config, adoptAppView: boolean): Promise<number> {
  const r = createResources(config, 'migrate');
  try {
    await applyMigrationsInterruptibly(r, false, adoptAppView);
    return 0;
  } finally {
    await r.close();
  }
}

async function run(config: Config, only: TaskKind[], migrateFirst: boolean, extraTasks: Task[] = [], devControls?: DevControls): Promise<number> {
  // A process without Postgres (firehose, labels) shows no repo_sync or label counts: it would show 0, counted now.
  const r = createResources(config, 'skytide', { stateGauges: stateGaugesFor(only) });
  if (devControls !== undefined) r.devControls = devControls;
  try {
    if (migrateFirst || config.migrateOnStart) await applyMigrationsInterruptibly(r, true);
    // Every process answers /health, /ready and /metrics on HTTP_PORT, whatever --only says (runTasks).
    const tasks = [...runTasks(r, only), ...extraTasks];
    // A missing libsecp256k1 addon is not fatal (OpenSSL verifies K-256 too), but it costs 7x, so it is said.
    (K256_BACKEND === 'libsecp256k1' ? r.log.info : r.log.warn)('signature backend', { k256: K256_BACKEND });
    // Settings the index's plans rely on, and those that slow a sustained index, said once; not awaited (Postgres may
    // be down: the tasks wait for it), and not in dev, whose embedded PGlite has no autovacuum and holds a dev's few
    // rows.
    if (devControls === undefined && only.some((kind) => kind === 'index' || kind === 'backfill')) {
      // One read; autovacuum is judged first, so a write setting that cannot be judged does not silence it.
      readServerSettings(r.sql())
        .then((settings) => {
          for (const problem of serverSettingProblems(settings)) r.log.warn('postgres setting', { problem });
          for (const advice of writeSettingAdvice(writeSettingsOf(settings))) r.log.warn('postgres setting slows the index', { advice });
        })
        .catch((err: unknown) => r.log.debug('postgres settings not read', { err: describeError(err) }));
    }
    if (tasks.length === 0) {
      r.log.error('nothing to run', { only, relayHosts: config.relayHosts });
      return 1;
    }
    return await supervise(tasks, {
      log: r.log,
      stuckAfterMs: config.taskStuckMs,
      onStuck: (task) => {
        r.metrics.metrics.inc('skytide_tasks_stuck_total');
        r.stuckTasks.push(task);
      },
      excuse: () => r.redisWaiting(),
    });
  } finally {
    await r.close();
  }
}

/**
 * `skytide dev`: with no relay configured, a local PLC + PDS and a bot writing to it stand in for the network; with
 * no DATABASE_URL, PostgreSQL is PGlite in `.skytide/dev-db/`; with no REDIS_URL, a private redis-server (or, without
 * one, the in-process Redis, not durable). Only this command does that: `run` never falls back to an embedded service.
 */
async function dev(config: Config, only: TaskKind[], env: NodeJS.ProcessEnv, sim: LocalNetworkOptions): Promise<number> {
  const log = createLogger({ level: config.logLevel, component: 'dev' });
  const closers: (() => Promise<void>)[] = [];
  try {
    const embedded = await startEmbeddedServices(config, env, log, closers);
    if (embedded.relayHosts.length > 0) return await run(embedded, only, true);
    const { startLocalNetwork, devActivityTask } = await import('../dev/local-network.ts');
    log.info('starting local network', {});
    const network = await startLocalNetwork(log, sim);
    closers.push(() => network.close());
    log.info('local network ready', { pds: network.pdsUrl, plc: network.plcUrl });
    // The simulated network's bot (dev only), watched as every loop: a hang there is named, not a silent stall.
    const activity = devActivityTask(network);
    // The local network's DIDs live in its own PLC, and its PDS on loopback.
    const local = {
      ...embedded, relayHosts: [network.relayHost], labelerHosts: [...embedded.labelerHosts, network.labelerHost], firehoseInitialCursor: 0, plcUrl: network.plcUrl, identityAllowPrivate: true,
      handleResolverUrl: network.pdsUrl,
    };
    return await run(local, only, true, [activity], { ...network.controls, stats: () => network.stats(), truth: () => network.truth() });
  } finally {
    for (const close of closers.reverse()) await close().catch((err: unknown) => log.warn('dev: closing failed', { err: describeError(err) }));
  }
}

/** The dev command's embedded Postgres and Redis, each only when its variable is not set. */
async function startEmbeddedServices(config: Config, env: NodeJS.ProcessEnv, log: ReturnType<typeof createLogger>, closers: (() => Promise<void>)[]): Promise<Config> {
  let out = config;
  if (env['DATABASE_URL'] === undefined) {
    const { startEmbeddedPostgres } = await import('../dev/embedded-postgres.ts');
    const pg = await startEmbeddedPostgres(PROJECT_DIR);
    closers.push(() => pg.close());
    // PGlite is one session: one pooled connection keeps transactions from interleaving in it.
    out = { ...out, databaseUrl: pg.url, databasePoolMax: 1 };
    log.info('embedded postgres (PGlite)', { url: pg.url, dataDir: pg.dataDir });
  }
  if (env['REDIS_URL'] === undefined) {
    const { startEmbeddedRedis, NOT_DURABLE_BANNER } = await import('../dev/embedded-redis.ts');
    const redis = await startEmbeddedRedis(PROJECT_DIR);
    closers.push(() => redis.close());
    out = { ...out, redisUrl: redis.url };
    log.info('embedded redis', { url: redis.url, kind: redis.kind, durable: redis.durable });
    if (!redis.durable) process.stderr.write(NOT_DURABLE_BANNER + '\n');
  }
  return out;
}

async function reprocess(config: Config, did: string | undefined): Promise<number> {
  if (did === undefined) fail('usage: skytide reprocess <did>');
  if (!isValidDid(did)) fail(`reprocess: not a DID: ${JSON.stringify(did)}\nusage: skytide reprocess <did>`);
  // As POST /reprocess/:did: a DID that can never resolve is the caller's mistake, not an identity outage to retry.
  const never = unresolvableDid(did);
  if (never !== undefined) fail(`reprocess: ${did} can never resolve: ${never}\nusage: skytide reprocess <did>`);
  const r = createResources(config, 'reprocess');
  try {
    const line = progressLine(`reprocess ${did}`);
    const { outcomes, reports } = await backfillRepos([{ did }], {
      ...r.backfillPorts(),
      onProgress: (p) => {
        line.update({ done: p.records?.done ?? 0, ...(p.records === undefined ? {} : { total: p.records.total }), unit: 'records', extra: [p.phase] });
      },
    });
    line.finish();
    process.stdout.write(JSON.stringify(reports[0], null, 2) + '\n');
    return outcomes[0]?.status === 'ok' ? 0 : 1;
  } finally {
    await r.close();
  }
}

/** `skytide forget <did>` (operate.ts): Postgres only; down, it says so and exits 1. */
async function forget(config: Config, did: string | undefined, o: OperateOptions): Promise<number> {
  const r = createResources(config, 'forget');
  try {
    return await forgetCommand(r, did, o);
  } catch (err) {
    const outage = dependencyErrorIn(err);
    if (outage === undefined) throw err;
    process.stderr.write(`skytide forget: ${outage.dependency} is unavailable: ${outage.message}; run it again once it is back (a removal cut short goes on where it stopped)\n`);
    return 1;
  } finally {
    await r.close();
  }
}

/** Exit code of `skytide sweep` when another process was sweeping a host: that host was left to it. */
const EXIT_SWEEP_RUNNING = 3;

/**
 * How long `skytide sweep` lets its sweep stop after SIGTERM or SIGINT. A sweep stops at once unless something it
 * awaits does not heed the signal: a Redis command waits inside the client, for as long as Redis is unreachable
 * (commands are never failed, an outage is waited out). Past this it exits 143 or 130 anyway, saying what was pending.
 */
const SWEEP_STOP_DEADLINE_MS = 10_000;

/**
 * `skytide sweep`: every relay listed, then one JSON line on stdout with each host's progress. Stopped by SIGTERM or
 * SIGINT before every host was done, it exits 143 or 130 (as `skytide migrate` does), never 0: a CronJob must not
 * take a sweep that listed a few pages for a finished one. What it wrote is durable; the next sweep resumes there.
 * It never hangs on a signal: a sweep that has not stopped SWEEP_STOP_DEADLINE_MS after it (a Redis that does not
 * answer), or a second signal, exits 143 or 130 there and then, the pending work logged and every host not done.
 */
async function sweep(config: Config): Promise<number> {
  if (config.relayHosts.length === 0) fail('sweep: set INGESTER_RELAY_HOSTS to the relays or PDSes to list');
  const r = createResources(config, 'sweep');
  const controller = new AbortController();
  let stoppedBy: NodeJS.Signals | undefined;
  /** What the sweep is doing, for the log of a stop that did not come in time. */
  let doing = 'claiming the hosts\' leases';
  let deadline: ReturnType<typeof setTimeout> | undefined;
  const exitNow = (signal: NodeJS.Signals, why: string) => {
    r.log.error(`sweep did not stop: exiting (${why})`, { signal, timeoutMs: SWEEP_STOP_DEADLINE_MS, pending: doing, waiting: r.redisWaiting() ?? 'nothing known to wait' });
    process.stdout.write(JSON.stringify({ done: false, stoppedBy: signal, hosts: config.relayHosts.map((host) => ({ host, done: false })) }) + '\n');
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  const stop = (signal: NodeJS.Signals) => {
    if (stoppedBy !== undefined) return exitNow(signal, 'second signal');
    stoppedBy = signal;
    controller.abort();
    deadline = setTimeout(() => exitNow(signal, `not stopped ${SWEEP_STOP_DEADLINE_MS / 1000} s after the signal`), SWEEP_STOP_DEADLINE_MS);
    deadline.unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  try {
    const sweeper = sweeperFor(r);
    const claim = await sweeper.claim();
    for (const b of claim.busy) process.stderr.write(`sweep: ${b.host} is already being swept by ${b.holder ?? 'another process'}; not sweeping it\n`);
    const outcomes = await sweeper.run(claim, controller.signal, (host) => {
      doing = `sweeping ${host}`;
      return sweepProgress(host);
    });
    doing = 'releasing the leases and closing';
    let failed = false;
    for (const outcome of outcomes) {
      if (!('error' in outcome)) continue;
      failed = true;
      r.log.error('sweep failed', { host: outcome.host, err: describeError(outcome.error) });
    }
    // Per configured host: its progress, its error, the holder that has it, or nothing done (stopped before its turn).
    const hosts = config.relayHosts.map((host) => {
      const outcome = outcomes.find((o) => o.host === host);
      if (outcome !== undefined) return 'error' in outcome ? { host, done: false, error: describeError(outcome.error) } : { host, ...outcome.progress };
      const busy = claim.busy.find((b) => b.host === host);
      return busy !== undefined ? { host, done: false, busy: busy.holder } : { host, done: false };
    });
    const unfinished = claim.held.some(({ host }) => !hosts.some((h) => h.host === host && h.done));
    process.stdout.write(JSON.stringify({ done: hosts.every((h) => h.done), ...(stoppedBy === undefined ? {} : { stoppedBy }), hosts }) + '\n');
    if (stoppedBy !== undefined && unfinished) return stoppedBy === 'SIGINT' ? 130 : 143;
    return claim.busy.length > 0 ? EXIT_SWEEP_RUNNING : failed || unfinished ? 1 : 0;
  } finally {
    await r.close();
    clearTimeout(deadline);
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
  }
}

/**
 * How long `status`, `dlq` and `consumers` wait for Redis: its first answer, and then each command's. The long-runners
 * wait out an outage; an operator at a terminal is told instead, and the command exits 1.
 */
const ONE_SHOT_DEADLINE_MS = 10_000;

/** Runs a one-shot Redis command once Redis answers; says so on stderr and returns 1 when it does not answer in time. */
async function oneShot(config: Config, command: 'status' | 'dlq' | 'consumers', body: (r: Resources) => Promise<number>): Promise<number> {
  const r = createResources(config, command, { redisCommandTimeoutMs: ONE_SHOT_DEADLINE_MS });
  // Where, not the URL: it may carry a password.
  const where = config.redisClusterNodes.length > 0 ? config.redisClusterNodes.join(',') : new URL(config.redisUrl).host;
  try {
    // A Cluster queues commands while it has no node, beyond each node's command timeout: the probe's own bound.
    await withDeadline(r.redis().ping(), ONE_SHOT_DEADLINE_MS, 'redis');
    return await body(r);
  } catch (err) {
    const unanswered = err instanceof DeadlineError || (err instanceof Error && err.message === 'Command timed out');
    const outage = dependencyErrorIn(err);
    if (!unanswered && outage === undefined) throw err;
    const what = unanswered ? `Redis at ${where} did not answer within ${ONE_SHOT_DEADLINE_MS / 1000} s` : `${outage?.dependency} is unavailable: ${outage?.message}`;
    process.stderr.write(`skytide ${command}: ${what}; is it running and reachable?\n`);
    return 1;
  } finally {
    await r.close();
  }
}

async function status(r: Resources): Promise<number> {
  process.stdout.write(JSON.stringify(await createStatusReader({ redis: r.redis(), sql: () => r.sql(), keys: r.keys, hosts: r.config.relayHosts, labelerHosts: r.config.labelerHosts }).read(), null, 2) + '\n');
  return 0;
}

function parseArguments(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        only: { type: 'string' }, migrate: { type: 'boolean' }, 'adopt-appview': { type: 'boolean' }, help: { type: 'boolean', short: 'h' }, version: { type: 'boolean' },
        rate: { type: 'string' }, accounts: { type: 'string' }, seed: { type: 'string' },
        limit: { type: 'string' }, reason: { type: 'string' }, yes: { type: 'boolean' }, prune: { type: 'boolean' }, 'idle-ms': { type: 'string' },
      },
    });
  } catch (err) {
    // An unknown option or a missing value is a usage error like any other (exit 2), not a failed command.
    if (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS_')) fail(`${err.message}\n\n${USAGE}`);
    throw err;
  }
}

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArguments(argv);
  const command = positionals[0];
  if (values.version === true || command === 'version') {
    process.stdout.write(`skytide ${VERSION}\n`);
    return 0;
  }
  if (values.help === true || command === undefined) {
    process.stdout.write(USAGE + '\n');
    return command === undefined && values.help !== true ? 2 : 0;
  }
  const env = command === 'dev' ? { SKYTIDE_ENV: 'dev', ...process.env } : process.env;
  let config: Config;
  try {
    const parsed = parseConfig(env);
    config = parsed.config;
    if (parsed.unknown.length > 0) process.stderr.write(`warning: unknown variables ${parsed.unknown.join(', ')}\n`);
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
  switch (command) {
    case 'migrate':
      return migrate(config, values['adopt-appview'] === true);
    case 'run':
      return run(config, parseOnly(values.only), values.migrate === true);
    case 'status':
      return oneShot(config, 'status', status);
    case 'sweep':
      return sweep(config);
    case 'reprocess':
      return reprocess(config, positionals[1]);
    case 'dev':
      return dev(config, parseOnly(values.only), process.env, {
        ...(values.rate === undefined ? {} : { rate: nonNegative('rate', values.rate) }),
        ...(values.accounts === undefined ? {} : { accounts: positiveInt('accounts', values.accounts) ?? 6 }),
        ...(values.seed === undefined ? {} : { seed: positiveInt('seed', values.seed) ?? 1 }),
      });
    case 'config':
      return configCommand(env, operateOptions(values));
    case 'dlq':
      return oneShot(config, 'dlq', (r) => dlqCommand(r, positionals[1], positionals[2], operateOptions(values)));
    case 'consumers':
      return oneShot(config, 'consumers', (r) => consumersCommand(r, operateOptions(values)));
    case 'forget':
      return forget(config, positionals[1], operateOptions(values));
    default:
      fail(`unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(JSON.stringify({ level: 'error', time: new Date().toISOString(), component: 'cli', msg: 'command failed', err: describeError(err) }) + '\n');
    process.exit(1);
  },
);
