// Backfills a synthetic network (synthetic-network.ts) through the real backfill-repo path: each repo's DID document
// from a PLC directory on loopback (fake-plc.ts), its CAR streamed by getRepo from a PDS on loopback (fake-pds.ts)
// through the guarded fetch the deployment uses, verified, and indexed into a fresh Postgres schema. Measures wall
// time, this process's CPU, the CPU of the Postgres backends serving it (read from /proc, by application_name), and
// peak RSS; then counts what landed, so a test can check every record was indexed.
import path from 'node:path';
import { backfillRepos, type BackfillPorts, type RepoReport } from '../../functions/backfill-repo/handler.ts';
import { DEFAULT_REPO_LIMITS } from '../../functions/atproto/repo/read-car.ts';
import { noMetrics, silentLog, systemClock } from '../../functions/ports.ts';
import { createIdentityResolver } from '../../adapters/identity/resolver.ts';
import { createGuardedFetch } from '../../adapters/xrpc/guarded-fetch.ts';
import { createHostSlots } from '../../adapters/xrpc/host-slots.ts';
import { createSql, type PostgresSql } from '../../adapters/postgres/client.ts';
import { readServerSettings, serverSettingProblems } from '../../adapters/postgres/server-settings.ts';
import { applyMigrations } from '../../adapters/postgres/migrate.ts';
import { createTestSchema } from './services.ts';
import { analyzeTable } from './index-db.ts';
import { cpuSeconds } from './cpu-time.ts';
import { startFakePlc } from './fake-plc.ts';
import { repoDoc, startFakePds } from './fake-pds.ts';
import type { SyntheticNetwork } from './synthetic-network.ts';
import { checkRows } from '../../functions/sql-rows.ts';

export interface NetworkBackfillResult {
  repos: number;
  records: number;
  wallMs: number;
  /** CPU seconds of this process (fetch, verify, decode, statements). */
  nodeCpuS: number;
  /** CPU seconds of the Postgres backends that served this run (0 where /proc cannot be read). */
  postgresCpuS: number;
  peakRssMb: number;
  /** Size of the schema's tables with their indexes and TOAST, after the run. */
  dbBytes: number;
  /** Per repo: records and duration, for the per-repo / per-record split. */
  perRepo: { records: number; ms: number }[];
  /** Rows that landed: live records in `record`, and typed rows per table. */
  indexed: { record: number; post: number; like: number; follow: number; repost: number; actor_block: number; profile: number; repo_sync: number };
  failures: string[];
}

export interface NetworkBackfillOptions {
  /** Repos in flight at once (BACKFILLER_CONCURRENCY); downloads per host follow it (all repos share one PDS). */
  concurrency: number;
  poolMax?: number;
  log?: (line: string) => void;
}

const TABLES = ['post', 'like', 'follow', 'repost', 'actor_block', 'profile', 'repo_sync'] as const;

/**
 * Keeps the schema's planner statistics as autovacuum does on a running server, where the server has it off (this
 * machine's CI configuration does): each second, every table changed by more than 50 rows plus a tenth of its rows
 * since its last statistics (autovacuum's default thresholds) is analysed, on `sql`, whose backend is measured with
 * the backfill's. Without statistics the planner assumes default selectivities: a key list of a few hundred reads as
 * a large share of the table, and statements scanned whole tables on every repo (measured: Postgres 258 against
 * 53 µs per record on the same network). A backfill lasting days keeps its statistics within that tenth.
 */
export async function keepStatistics(sql: PostgresSql, schema: string, o: { off?: boolean } = {}): Promise<{ analysed: () => number; stop: () => Promise<void> }> {
  let analysed = 0;
  // The server keeps them itself when its settings are as the index needs (the start-up warning's own check).
  if (o.off === true || serverSettingProblems(await readServerSettings(sql)).length === 0) return { analysed: () => analysed, stop: async () => {} };
  let stopped = false;
  let failure: { error: unknown } | undefined;
  const loop = (async () => {
    while (!stopped) {
      const stale = checkRows(await sql.query(
        `select s.relname from pg_stat_user_tables s join pg_class c on c.oid = s.relid
          where s.schemaname = $1 and s.n_mod_since_analyze > 50 + 0.1 * greatest(c.reltuples, 0)`, [schema],
      ), { relname: 'string' });
      for (const { relname } of stale) {
        await analyzeTable(sql, schema, relname);
        analysed++;
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  })().catch((error: unknown) => void (failure = { error }));
  return {
    analysed: () => analysed,
    stop: async () => {
      stopped = true;
      await loop;
      // Figures measured without the statistics would not be what they say.
      if (failure !== undefined) throw failure.error;
    },
  };
}

export async function backfillNetwork(network: SyntheticNetwork, o: NetworkBackfillOptions): Promise<NetworkBackfillResult> {
  const log = o.log ?? (() => {});
  const plc = await startFakePlc();
  const pds = await startFakePds();
  for (const repo of network.repos) {
    plc.set(repo.did, repoDoc(repo.did, repo.didKey, pds.url));
    pds.set(repo.did, { file: path.join(network.dir, repo.file) });
  }
  const schema = await createTestSchema('network');
  const appName = `skytide-network-${process.pid}`;
  const url = new URL(schema.url);
  url.searchParams.set('application_name', appName);
  const sql = createSql(url.toString(), { max: o.poolMax ?? Math.max(4, o.concurrency + 1) });
  let statsSql: PostgresSql | undefined;
  let statistics: Awaited<ReturnType<typeof keepStatistics>> | undefined;
  try {
    await applyMigrations(sql);
    const backends = async () => (checkRows(await sql.query(`select pid from pg_stat_activity where application_name = $1`, [appName]), { pid: 'number' })).map((r) => r.pid);
    const cpuBefore = new Map<number, number>();
    // Warm the pool so every backend exists (and is measured) from the start.
    await Promise.all(Array.from({ length: o.poolMax ?? Math.max(4, o.concurrency + 1) }, () => sql.query('select pg_sleep(0.05)')));
    // Its own connection, under the same application name: its ANALYZEs are counted as the backfill's Postgres CPU.
    // BENCH_NETWORK_STATISTICS=off measures the run without them (what a server with autovacuum off gets).
    statsSql = createSql(url.toString(), { max: 1 });
    statistics = await keepStatistics(statsSql, schema.schema, { off: process.env['BENCH_NETWORK_STATISTICS'] === 'off' });
    for (const pid of await backends()) cpuBefore.set(pid, cpuSeconds(pid));
    const ports: BackfillPorts = {
      clock: systemClock, log: silentLog, metrics: noMetrics, sql,
      fetch: createGuardedFetch({ allowPrivate: true }), hostSlots: createHostSlots(o.concurrency),
      identity: createIdentityResolver({ fetch: globalThis.fetch, plcUrl: plc.url, allowPrivate: true }),
      limits: DEFAULT_REPO_LIMITS, timeoutMs: 600_000, concurrency: o.concurrency,
    };
    const cpu0 = process.cpuUsage();
    const started = performance.now();
    const reports: RepoReport[] = [];
    const failures: string[] = [];
    // Handed over in slices, as consumers take entries from repo_backfill; each slice keeps `concurrency` in flight.
    const SLICE = 200;
    for (let i = 0; i < network.repos.length; i += SLICE) {
      const slice = network.repos.slice(i, i + SLICE);
      const out = await backfillRepos(slice.map((r) => ({ did: r.did })), ports);
      reports.push(...out.reports);
      out.outcomes.forEach((outcome, k) => {
        if (outcome.status !== 'ok' || out.reports[k]!.status !== 'synchronized') failures.push(`${slice[k]!.did}: ${outcome.status} ${out.reports[k]!.status} ${out.reports[k]!.reason ?? ''}`);
      });
      log(`backfilled ${Math.min(i + SLICE, network.repos.length)}/${network.repos.length} repos (${Math.round((performance.now() - started) / 1000)} s)`);
    }
    const wallMs = performance.now() - started;
    const cpu = process.cpuUsage(cpu0);
    await statistics.stop();
    let postgresCpuS = 0;
    for (const pid of await backends()) postgresCpuS += cpuSeconds(pid) - (cpuBefore.get(pid) ?? 0);
    log(`statistics: ${statistics.analysed()} tables analysed during the run (autovacuum's thresholds; none when the server's autovacuum is on)`);
    const count = async (q: string) => (checkRows(await sql.query(q), { n: 'number' }))[0]!.n;
    const indexed = { record: await count(`select count(*)::int as n from record`) } as NetworkBackfillResult['indexed'];
    for (const t of TABLES) indexed[t] = await count(`select count(*)::int as n from "${t}"`);
    const dbBytes = Number((checkRows(await sql.query(
      `select coalesce(sum(pg_total_relation_size(c.oid)), 0)::text as n from pg_class c join pg_namespace s on s.oid = c.relnamespace where s.nspname = current_schema() and c.relkind = 'r'`,
    ), { n: 'string' }))[0]!.n);
    return {
      repos: network.repos.length, dbBytes,
      records: reports.reduce((a, r) => a + r.created + r.updated + r.unchanged, 0),
      wallMs,
      nodeCpuS: (cpu.user + cpu.system) / 1e6,
      postgresCpuS,
      peakRssMb: process.resourceUsage().maxRSS / 1024,
      perRepo: reports.map((r) => ({ records: r.created + r.updated + r.unchanged, ms: r.durationMs })),
      indexed,
      failures,
    };
  } finally {
    await statistics?.stop();
    await statsSql?.end();
    await sql.end();
    await schema.drop();
    await pds.close();
    await plc.close();
  }
}
