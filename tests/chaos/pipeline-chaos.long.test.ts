// Issue 8's chaos suite: the real `skytide run --only ...` processes (firehose adapter, two index consumers, the
// backfill worker, the HTTP server) ingest a real PDS (@atproto/dev-env) while the PDS writes at least CHAOS_EVENTS
// events (10,000) across 50 accounts, deactivations, reactivations, an account deletion and handle changes included,
// and the harness SIGKILLs and restarts the firehose, index and backfill processes at random (CHAOS_KILLS, 30),
// restarts Redis gracefully and SIGKILLs it, restarts Postgres, and makes the PLC and the PDS unreachable for 20 s
// each through proxies. Redis and Postgres are private to this file (a redis-server with appendfsync always, a
// Postgres cluster, both in a temporary folder), so none of this disturbs another test.
//
// After draining, it proves: the database equals the PDS's truth table by table (aggregates exactly: nothing applied
// twice), firehose_live received exactly the events the PDS emitted (an independent subscriber counts them), every
// DLQ is empty, every process exit that could be logged was logged with its cause, and the kills were made and
// counted. Randomness is seeded (printed; CHAOS_SEED replays a run's script and schedule).
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createSql, type PostgresSql } from '../../adapters/postgres/client.ts';
import { createKeySpace, STREAMS } from '../../adapters/redis/keys.ts';
import { freePort, startPrivatePostgres, startPrivateRedis, type PrivatePostgres, type PrivateRedis } from '../helpers/private-services.ts';
import { startDevNetwork, type DevNetwork } from '../helpers/dev-network.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { createProcessPool, type ProcessKind, type ProcessPool } from '../helpers/process-pool.ts';
import { createRandom, seedFromEnv } from '../helpers/seeded-random.ts';
import { planActivity, runActivity, type Account } from '../helpers/pds-activity.ts';
import { startFirehoseTap, type FirehoseTap } from '../helpers/firehose-tap.ts';
import { dlqLengths, dlqSample, drainPipeline, entriesAdded, workStreams } from '../helpers/drain.ts';
import { actualTables, describeDiffs, diffTables, expectedTables, readPdsTruth, rowsOfDeleted, type TableDiff } from '../helpers/appview-truth.ts';
import { checkRows } from '../../functions/sql-rows.ts';

const CLI = new URL('../../long-runners/cli/main.ts', import.meta.url).pathname;
const positive = (name: string, fallback: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return n;
};
const EVENTS = positive('CHAOS_EVENTS', 10_000);
const KILLS = positive('CHAOS_KILLS', 30);
const SEED = seedFromEnv(process.env['CHAOS_SEED']);
const ACCOUNTS = 50;
const LANES = 6;
const OUTAGE_MS = 20_000;
const DRAIN_TIMEOUT_MS = 6 * 60_000;
const KINDS_KILLED: ProcessKind[] = ['firehose', 'index', 'backfill'];

const say = (line: string) => process.stdout.write(`[chaos] ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let root: string;
let logDir: string;
let pg: PrivatePostgres;
let redisServer: PrivateRedis;
let network: DevNetwork;
let pdsProxy: TcpProxy;
let relayProxy: TcpProxy;
let plcProxy: TcpProxy;
let redis: Redis;
let sql: PostgresSql;
let pool: ProcessPool | undefined;
let tap: FirehoseTap | undefined;
let failed = true;
const originalTmp = process.env['TMPDIR'];

beforeAll(async () => {
  // Everything the run writes (the PDS's SQLite files, the Postgres cluster, Redis's append-only file) lives in one
  // folder, in memory where the machine has /dev/shm: the PDS writes several times faster there. Postgres runs as its
  // own user when we are root, so the folder must be traversable.
  root = mkdtempSync(path.join(existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'skytide-chaos-'));
  chmodSync(root, 0o755);
  process.env['TMPDIR'] = root;
  logDir = mkdtempSync(path.join(originalTmp ?? '/tmp', `skytide-chaos-logs-${SEED}-`));
  [pg, redisServer] = await Promise.all([startPrivatePostgres(), startPrivateRedis()]);
  // The PDS names the proxy's port in its URL and DID documents and listens on another one behind it, so getRepo
  // and handle resolution go through that proxy; accounts write to the PDS directly. The firehose comes through a
  // proxy of its own, as a relay's would: a PDS that skytide cannot reach is not a relay that stopped.
  const [pdsPublicPort, pdsListenPort] = [await freePort(), await freePort()];
  network = await startDevNetwork({ pdsPublicPort, pdsListenPort });
  pdsProxy = await startTcpProxy({ port: pdsPublicPort, target: { host: '127.0.0.1', port: pdsListenPort } });
  relayProxy = await startTcpProxy({ target: { host: '127.0.0.1', port: pdsListenPort } });
  plcProxy = await startTcpProxy({ target: { host: '127.0.0.1', port: Number(new URL(network.plcUrl).port) } });
  redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
  // The harness's own client rides out the Redis restarts like the pipeline's (commands wait for the reconnect).
  redis.on('error', () => {});
  sql = createSql(pg.url, { max: 2 });
  const migrated = spawnSync(process.execPath, [CLI, 'migrate'], { env: baseEnv(), encoding: 'utf8' });
  if (migrated.status !== 0) throw new Error(`skytide migrate failed: ${migrated.stdout}${migrated.stderr}`);
}, 180_000);

afterAll(async () => {
  await pool?.stopAll(30_000);
  tap?.close();
  await Promise.allSettled([network?.close(), pdsProxy?.close(), relayProxy?.close(), plcProxy?.close()]);
  redis?.disconnect();
  await sql?.end().catch(() => {});
  await Promise.allSettled([pg?.close(), redisServer?.close()]);
  if (originalTmp === undefined) delete process.env['TMPDIR'];
  else process.env['TMPDIR'] = originalTmp;
  if (root !== undefined) rmSync(root, { recursive: true, force: true });
  if (!failed && logDir !== undefined) rmSync(logDir, { recursive: true, force: true });
  else if (logDir !== undefined) say(`process logs kept in ${logDir}`);
});

function baseEnv(): Record<string, string> {
  return {
    PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/root', TMPDIR: root,
    REDIS_URL: redisServer.url, DATABASE_URL: pg.url, DATABASE_POOL_MAX: '5', LOG_LEVEL: 'info',
    // Through the proxies: the relay (the PDS's firehose), the PDS (getRepo, handle resolution) and the PLC directory.
    INGESTER_RELAY_HOSTS: relayProxy?.url ?? '', FIREHOSE_INITIAL_CURSOR: '0', PLC_URL: plcProxy?.url ?? '', HANDLE_RESOLVER_URL: network?.pdsUrl ?? '',
    IDENTITY_ALLOW_PRIVATE: 'true',
    // Short batches and claim times, so kills land mid-batch and abandoned entries come back within the run.
    INGESTER_BATCH_TIMEOUT_MS: '250', INDEXER_BATCH_SIZE: '200', INDEXER_CLAIM_IDLE_MS: '10000', BACKFILLER_TIMEOUT_MS: '15000',
    BACKFILLER_CONCURRENCY: '2',
  };
}

interface Window {
  what: string;
  startedAt: number;
  endedAt?: number;
  note?: string;
}

describe('chaos: the whole pipeline under kills, restarts and outages', () => {
  it('ends with the database equal to the PDS truth, nothing lost or applied twice, and every exit accounted for', async () => {
    const startedAt = Date.now();
    const keys = createKeySpace('');
    const cursorKey = keys.cursor(STREAMS.firehoseLive, relayProxy.url);
    const random = createRandom(SEED);
    say(`seed ${SEED} (CHAOS_SEED=${SEED} replays this run's script and schedule); events ${EVENTS}, kills ${KILLS}, accounts ${ACCOUNTS}`);
    if (EVENTS < 10_000 || KILLS < 30) say('a short run: below the issue\'s 10,000 events and 30 kills');
    say(`PDS ${network.pdsDirectUrl} behind ${network.pdsUrl} (its firehose behind ${relayProxy.url}); PLC ${network.plcUrl} behind ${plcProxy.url}; logs in ${logDir}`);

    // The witness first, so it sees every event from the first account on.
    tap = startFirehoseTap(network.pdsDirectUrl);
    const httpPort = await freePort();
    pool = createProcessPool({
      cli: CLI, env: baseEnv(), logDir, restartAfterMs: 1000,
      envFor: (kind): Record<string, string> => (kind === 'http' ? { HTTP_PORT: String(httpPort) } : {}),
    });
    for (const kind of ['firehose', 'index', 'index', 'backfill', 'http'] as const) pool.start(kind);

    const accounts: Account[] = [];
    for (let i = 0; i < ACCOUNTS; i++) {
      const u = await network.createUser(`chaos${i}`);
      accounts.push({ index: i, did: u.did, handle: u.handle, agent: u.agent });
    }
    say(`${ACCOUNTS} accounts created; PDS at seq ${await network.latestSeq()}`);

    const plan = planActivity(random.fork('activity'), { accounts: ACCOUNTS, actions: Math.max(100, EVENTS - 4 * ACCOUNTS), handlePrefix: 'chaos' });
    const deletedDid = accounts[plan.deleted]!.did;
    let deletionCaughtUp: boolean | undefined;
    const activity = runActivity(plan, accounts, LANES, {
      admin: { url: network.pdsDirectUrl, auth: network.adminAuth },
      // The PDS erases a deleted account's history; let the adapter hold it first, so the stream count is exact.
      beforeDeleteAccount: async () => {
        const seq = await network.latestSeq();
        const deadline = Date.now() + 90_000;
        while (Number((await redis.get(cursorKey)) ?? 0) < seq && Date.now() < deadline) await sleep(200);
        deletionCaughtUp = Number((await redis.get(cursorKey)) ?? 0) >= seq;
      },
    });
    const progress = () => activity.finished / activity.total;
    const until = async (fraction: number) => {
      while (progress() < fraction) await sleep(100);
    };

    // /ready, sampled once a second, to show what an operator saw during each outage.
    const readySamples: { at: number; status: number | string; body: string }[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const at = Date.now();
        try {
          const res = await fetch(`http://127.0.0.1:${httpPort}/ready`, { signal: AbortSignal.timeout(2000) });
          readySamples.push({ at, status: res.status, body: (await res.text()).slice(0, 300) });
        } catch (err) {
          readySamples.push({ at, status: err instanceof Error ? err.name : 'error', body: '' });
        }
        await sleep(Math.max(0, 1000 - (Date.now() - at)));
      }
    })();

    // Kills: at seeded points of the activity, a random process of a random kind, restarted after a seeded pause.
    const killRandom = random.fork('kills');
    const killPoints = Array.from({ length: KILLS }, () => 0.03 + 0.94 * killRandom.next()).sort((a, b) => a - b);
    const killLog: { kind: ProcessKind; id: string; at: number; restartAfterMs: number }[] = [];
    const killer = (async () => {
      for (const point of killPoints) {
        await until(point);
        const kinds = KINDS_KILLED.filter((k) => pool!.running(k).length > 0);
        if (kinds.length === 0) continue;
        const kind = killRandom.pick(kinds);
        const victim = killRandom.pick(pool!.running(kind));
        const restartAfterMs = killRandom.int(200, 2500);
        await pool!.sigkill(victim.id);
        killLog.push({ kind, id: victim.id, at: Date.now(), restartAfterMs });
        await sleep(restartAfterMs);
        pool!.start(kind);
      }
    })();

    // Faults, one after another at fixed points of the activity; kills go on meanwhile.
    const windows: Window[] = [];
    const extraAccounts: Account[] = [];
    const harnessErrors: string[] = [];
    const window = async (what: string, fn: () => Promise<string | void>) => {
      const w: Window = { what, startedAt: Date.now() };
      windows.push(w);
      say(`${what}: start`);
      let note: string | void;
      try {
        note = await fn();
      } catch (err) {
        note = `a harness step failed: ${err instanceof Error ? err.message : String(err)}`;
        harnessErrors.push(`${what}: ${note}`);
      }
      w.endedAt = Date.now();
      if (note) w.note = note;
      say(`${what}: end after ${w.endedAt - w.startedAt} ms${note ? ` (${note})` : ''}`);
    };
    const renameReserved = async (i: number, suffix: string) => {
      const a = accounts[plan.reserved[i]!]!;
      a.handle = `chaos${a.index}-${suffix}.test`;
      await a.agent.com.atproto.identity.updateHandle({ handle: a.handle });
    };
    const faults = (async () => {
      await until(0.12);
      await window('redis graceful restart', async () => {
        await redisServer.stop('graceful');
        await sleep(3000);
        await redisServer.start();
      });
      await until(0.28);
      await window('PLC unreachable (connections reset)', async () => {
        await plcProxy.setMode('drop');
        const ends = Date.now() + OUTAGE_MS;
        try {
          // While the directory is away: handle changes (their DID documents cannot be fetched) and new accounts
          // (nothing of theirs is cached) that write at once.
          await renameReserved(0, 'plc');
          await renameReserved(1, 'plc');
          for (let k = 0; k < 2; k++) {
            const u = await network.createUser(`chaosx${k}`);
            const a: Account = { index: ACCOUNTS + k, did: u.did, handle: u.handle, agent: u.agent };
            extraAccounts.push(a);
            for (let p = 0; p < 3; p++) await u.agent.post({ text: `written while the PLC is down ${p}`, createdAt: new Date().toISOString() });
          }
        } finally {
          await sleep(Math.max(0, ends - Date.now()));
          await plcProxy.setMode('open');
        }
        return `${plcProxy.stats.dropped} connections reset`;
      });
      await until(0.46);
      await window('redis SIGKILL', async () => {
        await redisServer.stop('kill');
        await sleep(3000);
        await redisServer.start();
      });
      await until(0.62);
      await window('postgres restart (fast shutdown, 10 s down)', async () => {
        await pg.stop('fast');
        await sleep(10_000);
        await pg.start();
      });
      await until(0.78);
      await window('PDS unreachable (connections refused)', async () => {
        await pdsProxy.setMode('refuse');
        const ends = Date.now() + OUTAGE_MS;
        try {
          // Handle changes whose handles cannot be resolved back while the PDS is away (the relay still streams them),
          // and a reactivation, whose resync cannot fetch the repo until the PDS is back.
          await renameReserved(2, 'pds');
          await renameReserved(3, 'pds');
          // The pausable account: the script wrote with it only in its first half, and those writes are done, so
          // none of them can meet it deactivated.
          await activity.actorSettled(plan.pausable);
          const back = accounts[plan.pausable]!.agent;
          await back.com.atproto.server.deactivateAccount({});
          await back.com.atproto.server.activateAccount();
        } finally {
          await sleep(Math.max(0, ends - Date.now()));
          await pdsProxy.setMode('open');
        }
        return `${pdsProxy.stats.cut} open connections cut`;
      });
    })();

    const ticker = setInterval(() => {
      void (async () => {
        const streams = await workStreams(redis, keys);
        say(`activity ${Math.round(progress() * 100)}%: PDS seq ${await network.latestSeq()}, cursor ${await redis.get(cursorKey)}, ` +
          `kills ${killLog.length}/${KILLS}, ${streams.map((s) => `${s.stream} ${s.length}`).join(', ')}`);
      })().catch(() => {});
    }, 30_000);

    try {
      await activity.done;
      await Promise.all([killer, faults]);
      // Top up to the promised number of events, should the script have fallen short.
      const writers = plan.reserved.map((i) => accounts[i]!);
      while ((await network.latestSeq()) < EVENTS) {
        await Promise.all(writers.map((w, k) => w.agent.post({ text: `top-up ${k}`, createdAt: new Date().toISOString() })));
      }
    } finally {
      clearInterval(ticker);
    }
    const activityMs = Date.now() - startedAt;
    const pdsEvents = await network.latestSeq();
    say(`activity done in ${Math.round(activityMs / 1000)} s: PDS seq ${pdsEvents}; draining`);

    let drainMs: number | undefined;
    let drainError: string | undefined;
    try {
      drainMs = await drainPipeline({ redis, keys, cursorKey, targetSeq: () => network.latestSeq(), timeoutMs: DRAIN_TIMEOUT_MS, onProgress: say });
    } catch (err) {
      drainError = err instanceof Error ? err.message : String(err);
    }
    sampling = false;
    await sampler;
    await tap.waitForSeq(pdsEvents, 30_000).catch(() => {});

    // Figures from Redis before the processes stop.
    const streamEntries = await entriesAdded(redis, keys.stream(STREAMS.firehoseLive));
    const dlqs = await dlqLengths(redis, keys);
    const dlqSamples: string[] = [];
    for (const [key, n] of Object.entries(dlqs)) if (n > 0) dlqSamples.push(`${key}:`, ...(await dlqSample(redis, key, 5)).map((l) => `  ${l}`));
    const finalStreams = await workStreams(redis, keys);
    await pool.stopAll(40_000);

    // The truth, and the database.
    const allAccounts = [...accounts, ...extraAccounts];
    const truth = await readPdsTruth({ pdsUrl: network.pdsDirectUrl, plcUrl: network.plcUrl, adminAuth: network.adminAuth }, allAccounts.map((a) => a.did), [deletedDid]);
    // The quote rows the AppView deletes with a deleted post depend on the stream's order, which the tap saw.
    const diffs = diffTables(expectedTables({ ...truth, postOps: tap.postOps }), await actualTables(sql));
    const leftovers = await rowsOfDeleted(sql, [deletedDid]);
    const repoSync = checkRows(await sql.query(`select status, count(*)::int as n from repo_sync group by status order by status`), { status: 'string', n: 'number' });
    const stuck = checkRows(await sql.query(
      `select did, status, reason from repo_sync where status in ('in-progress', 'desynchronized') order by did limit 10`,
    ), { did: 'string', status: 'string', reason: 'string?' });

    // What the processes said about trouble: warn and error lines by component, message and reason, and lines that
    // are not JSON at all (the house style logs JSON lines only).
    const trouble = new Map<string, number>();
    for (const { line } of pool.logLines((l) => l['level'] === 'warn' || l['level'] === 'error')) {
      const key = `${line['level']} ${line['component']}: ${line.msg}${line['reason'] === undefined ? '' : ` (${String(line['reason']).slice(0, 80)})`}`;
      trouble.set(key, (trouble.get(key) ?? 0) + 1);
    }
    const nonJson = pool.nonJsonLines();
    const exits = pool.auditExits();
    const kills = pool.kills();
    const killsMade = Object.values(kills).reduce((n, k) => n + k.made, 0);
    const killsConfirmed = Object.values(kills).reduce((n, k) => n + k.confirmed, 0);
    const unexpected = exits.filter((e) => e.how === 'unexpected');
    const unexplained = exits.filter((e) => !e.explained);
    const uncleanStops = exits.filter((e) => e.how === 'sigterm' && e.code !== 0);
    const readyIn = (w: Window | undefined) => {
      if (w === undefined) return 'not run';
      const seen = readySamples.filter((s) => s.at >= w.startedAt && s.at <= (w.endedAt ?? Infinity));
      const byStatus = new Map<string, number>();
      for (const s of seen) byStatus.set(String(s.status), (byStatus.get(String(s.status)) ?? 0) + 1);
      const degraded = seen.some((s) => /degraded/.test(s.body));
      return `${[...byStatus].map(([s, n]) => `${s} x${n}`).join(', ') || 'no samples'}${degraded ? ', degraded named' : ''}`;
    };

    // The report: every figure, then every check with its evidence.
    const tableLine = (d: TableDiff) => `${d.table} ${d.actual}/${d.expected}${d.missing.length + d.extra.length + d.changed.length > 0 ? ` (-${d.missing.length} +${d.extra.length} ~${d.changed.length})` : ''}`;
    const figures = [
      `seed ${SEED}`,
      `accounts ${allAccounts.length} (${plan.deactivated.length} deactivated, all but ${accounts[plan.leftDeactivated]!.did} reactivated, ${plan.renamed.length + 4} handle changes, 1 deleted: ${deletedDid})`,
      `events written by the PDS (sequencer): ${pdsEvents}; the independent subscriber decoded ${tap.total} stream events ${JSON.stringify(tap.counts)} up to seq ${tap.lastSeq}`,
      `firehose_live entries over the run (XINFO entries-added): ${streamEntries}`,
      `activity: ${activity.total} scripted actions in ${Math.round(activityMs / 1000)} s, ${activity.failures.length} failed`,
      `kills per kind (made/confirmed by SIGKILL): ${KINDS_KILLED.map((k) => `${k} ${kills[k]?.made ?? 0}/${kills[k]?.confirmed ?? 0}`).join(', ')}; total ${killsMade}`,
      `processes started ${pool.history().length}; unexpected exits ${unexpected.length}${unexpected.length > 0 ? `: ${unexpected.map((e) => `${e.id} code ${e.code}: ${e.cause}`).join(' | ')}` : ''}`,
      ...windows.map((w) => `${w.what}: ${new Date(w.startedAt).toISOString()} to ${w.endedAt === undefined ? '?' : new Date(w.endedAt).toISOString()} (${w.endedAt === undefined ? '?' : w.endedAt - w.startedAt} ms)${w.note ? `, ${w.note}` : ''}; /ready: ${readyIn(w)}`),
      `drain: ${drainMs === undefined ? `failed: ${drainError}` : `${Math.round(drainMs / 1000)} s`}; streams at the end ${finalStreams.map((s) => `${s.stream} ${s.length}/${s.pending}`).join(', ')}`,
      `DLQ lengths: ${Object.entries(dlqs).map(([k, n]) => `${k} ${n}`).join(', ')}`,
      `tables (found/expected): ${diffs.map(tableLine).join(', ')}`,
      `warn and error log lines: ${[...trouble].sort((a, b) => b[1] - a[1]).slice(0, 20).map(([k, n]) => `${n} x ${k}`).join('; ') || 'none'}`,
      `non-JSON log lines: ${nonJson.count}${nonJson.count > 0 ? ` (most common: ${nonJson.top.map(([l, n]) => `${n} x ${l}`).join('; ')})` : ''}`,
      `repo_sync: ${repoSync.map((r) => `${r.status} ${r.n}`).join(', ') || 'empty'}`,
      `account deletion sent after the adapter caught up: ${deletionCaughtUp}`,
      `total ${Math.round((Date.now() - startedAt) / 1000)} s`,
    ];
    const checks: { name: string; ok: boolean; evidence?: string }[] = [
      { name: `the PDS wrote at least ${EVENTS} events`, ok: pdsEvents >= EVENTS, evidence: `seq ${pdsEvents}` },
      { name: 'every harness step during the faults succeeded (harness)', ok: harnessErrors.length === 0, evidence: harnessErrors.join(' | ') },
      { name: 'every scripted action succeeded on the PDS (harness)', ok: activity.failures.length === 0, evidence: activity.failures.slice(0, 5).map((f) => `#${f.id} ${f.kind}: ${f.err}`).join(' | ') },
      { name: `at least ${KILLS} kills, each confirmed by its exit signal`, ok: killsMade >= KILLS && killsConfirmed === killsMade, evidence: `${killsConfirmed}/${killsMade}` },
      { name: 'each fault ran once (redis restart and SIGKILL, postgres restart, PLC and PDS outages)', ok: windows.length === 5 && windows.every((w) => w.endedAt !== undefined) },
      { name: 'the pipeline drained (cursor at the last seq, streams empty, nothing pending)', ok: drainMs !== undefined, evidence: drainError },
      { name: 'firehose_live received each event the PDS emitted exactly once', ok: streamEntries === tap.total && tap.outOfOrder === 0 && deletionCaughtUp === true,
        evidence: `entries-added ${streamEntries}, subscriber ${tap.total}, out of order ${tap.outOfOrder}, deletion caught up ${deletionCaughtUp}` },
      { name: 'every DLQ is empty', ok: Object.values(dlqs).every((n) => n === 0), evidence: dlqSamples.join('\n') },
      ...diffs.map((d) => ({ name: `table ${d.table} equals the PDS truth`, ok: d.missing.length + d.extra.length + d.changed.length === 0, evidence: describeDiffs([d]) })),
      { name: 'no row of the deleted account remains in any table', ok: Object.keys(leftovers).length === 0, evidence: JSON.stringify(leftovers) },
      { name: 'no repo left in-progress or desynchronized', ok: stuck.length === 0, evidence: stuck.map((s) => `${s.did} ${s.status} ${s.reason}`).join(' | ') },
      { name: 'every exit a process could log was logged with its cause', ok: unexplained.length === 0, evidence: unexplained.map((e) => `${e.id} (${e.how}, code ${e.code}, signal ${e.signal}): ${e.cause}`).join(' | ') },
      { name: 'every log line is a JSON line', ok: nonJson.count === 0, evidence: nonJson.top.map(([l, n]) => `${n} x ${l}`).join(' | ') },
      { name: 'every process asked to stop (SIGTERM) exited 0', ok: uncleanStops.length === 0, evidence: uncleanStops.map((e) => `${e.id} code ${e.code}: ${e.cause}`).join(' | ') },
    ];
    const broken = checks.filter((c) => !c.ok);
    say(`figures:\n  ${figures.join('\n  ')}`);
    say(`checks:\n${checks.map((c) => `  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}`).join('\n')}`);
    if (broken.length > 0) {
      say(`evidence:\n${broken.map((c) => `- ${c.name}\n${(c.evidence ?? '').split('\n').map((l) => `    ${l}`).join('\n')}`).join('\n')}`);
      const latest = new Map<string, string>();
      for (const p of pool.history()) latest.set(p.kind, p.id);
      for (const e of unexplained) latest.set(e.id, e.id);
      for (const id of new Set(latest.values())) say(`last lines of ${id}:\n    ${pool.lastLines(id, 12).join('\n    ')}`);
    }
    writeFileSync(path.join(logDir, 'report.json'), JSON.stringify({ figures, checks, diffs, killLog, windows, readySamples, exits }, null, 2));
    failed = broken.length > 0;
    expect(broken.map((c) => c.name)).toEqual([]);
  }, Math.max(40, 20 + EVENTS / 600) * 60_000); // the PDS writes 10 to 50 events a second here
});
