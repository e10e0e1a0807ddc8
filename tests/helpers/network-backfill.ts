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
import { createHostLimitedFetch } from '../../adapters/xrpc/host-limited-fetch.ts';
import { createSql } from '../../adapters/postgres/client.ts';
import { applyMigrations } from '../../adapters/postgres/migrate.ts';
import { createTestSchema } from './services.ts';
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
  try {
    await applyMigrations(sql);
    const backends = async () => (checkRows(await sql.query(`select pid from pg_stat_activity where application_name = $1`, [appName]), { pid: 'number' })).map((r) => r.pid);
    const cpuBefore = new Map<number, number>();
    // Warm the pool so every backend exists (and is measured) from the start.
    await Promise.all(Array.from({ length: o.poolMax ?? Math.max(4, o.concurrency + 1) }, () => sql.query('select pg_sleep(0.05)')));
    for (const pid of await backends()) cpuBefore.set(pid, cpuSeconds(pid));
    const ports: BackfillPorts = {
      clock: systemClock, log: silentLog, metrics: noMetrics, sql,
      fetch: createHostLimitedFetch(createGuardedFetch({ allowPrivate: true }), o.concurrency),
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
    let postgresCpuS = 0;
    for (const pid of await backends()) postgresCpuS += cpuSeconds(pid) - (cpuBefore.get(pid) ?? 0);
    const count = async (q: string) => (checkRows(await sql.query(q), { n: 'number' }))[0]!.n;
    const indexed = { record: await count(`select count(*)::int as n from record where json <> ''`) } as NetworkBackfillResult['indexed'];
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
    await sql.end();
    await schema.drop();
    await pds.close();
    await plc.close();
  }
}
