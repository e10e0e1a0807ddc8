// Whole-network backfill, projected from measurement (issue 11, item 4). A synthetic network of signed repos
// (tests/bench/network-shape.ts: 2,000 repos, heavy-tailed sizes, three of 100,000 records; cached under .cache/)
// is served over HTTP on loopback (getRepo from a fake PDS, DID documents from a fake PLC) and backfilled through the
// real backfill-repo path (download, verify, index into Postgres) in its own process. It reports records/s, repos/s
// and peak RSS, and projects the real network (about 40 million repos, 18.5 billion records) onto one 16-core
// machine with Postgres from the CPU time measured per repo and per record, with the arithmetic printed. The fixed
// cost of a repo (identity, download, repo_sync, the statements of a nearly empty batch) is measured apart, on 500
// repos of one record each; what the network run spent beyond that is the cost of its records.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { syntheticNetwork } from '../helpers/synthetic-network.ts';
import type { NetworkBackfillResult } from '../helpers/network-backfill.ts';
import { NETWORK_SHAPE, TINY_SHAPE } from './network-shape.ts';
import type { BenchRow } from './types.ts';

export const NETWORK = { repos: 40e6, records: 18.5e9 };
export const MACHINE = {
  cores: 16,
  /**
   * Share of the 16 cores that does measured work. The rest: WAL writes, checkpoints and autovacuum (not in the
   * backends' CPU measured here), the OS and network stack, indexes deeper than on this run's small tables, and
   * imperfect balance between the backfill processes and Postgres.
   */
  efficiency: 0.7,
};
const DAY_S = 86_400;

/** Least squares of ms = a + b * records over the repos. */
export function fitPerRepo(perRepo: readonly { records: number; ms: number }[]): { a: number; b: number } {
  const n = perRepo.length;
  const mx = perRepo.reduce((s, r) => s + r.records, 0) / n;
  const my = perRepo.reduce((s, r) => s + r.ms, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const r of perRepo) {
    sxy += (r.records - mx) * (r.ms - my);
    sxx += (r.records - mx) ** 2;
  }
  const b = sxx === 0 ? 0 : sxy / sxx;
  return { a: my - b * mx, b };
}

export interface Projection {
  lines: string[];
  days: number;
  nodeCores: number;
  postgresCores: number;
}

/** The projection for the real network, with every step written out. */
export type Measured = NetworkBackfillResult & { carBytes: number; concurrency: number };

export function project(r: Measured, tiny: Pick<Measured, 'repos' | 'nodeCpuS' | 'postgresCpuS'>): Projection {
  const cpu = r.nodeCpuS + r.postgresCpuS;
  const tinyCpu = tiny.nodeCpuS + tiny.postgresCpuS;
  const { a, b } = fitPerRepo(r.perRepo);
  const perRepoCoreS = tinyCpu / tiny.repos;
  const repoShare = Math.min(1, (perRepoCoreS * r.repos) / cpu);
  const perRecordCoreS = (cpu * (1 - repoShare)) / r.records;
  const coreS = NETWORK.repos * perRepoCoreS + NETWORK.records * perRecordCoreS;
  const usable = MACHINE.cores * MACHINE.efficiency;
  const days = coreS / usable / DAY_S;
  const nodeShare = r.nodeCpuS / cpu;
  const wallRate = r.records / (r.wallMs / 1000);
  const f = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  const lines = [
    `measured: ${f(r.repos)} repos, ${f(r.records)} records in ${f(r.wallMs / 1000, 1)} s wall (${f(wallRate)} records/s, ${f(r.repos / (r.wallMs / 1000), 1)} repos/s, concurrency ${r.concurrency}), peak RSS ${f(r.peakRssMb)} MB`,
    `CPU: node ${f(r.nodeCpuS, 1)} s + Postgres backends ${f(r.postgresCpuS, 1)} s = ${f(cpu, 1)} core-s (${f(nodeShare * 100)}% node: fetch, verify, decode, statements; ${f((1 - nodeShare) * 100)}% Postgres)`,
    `fixed cost of a repo, measured on ${f(tiny.repos)} one-record repos: ${f(tinyCpu, 1)} core-s / ${f(tiny.repos)} = ${perRepoCoreS.toExponential(3)} core-s per repo (${f(repoShare * 100, 1)}% of the network run's CPU)`,
    `core-s per record = (${f(cpu, 1)} - ${f(r.repos)} x ${perRepoCoreS.toExponential(3)}) / ${f(r.records)} = ${perRecordCoreS.toExponential(3)} (${f(1 / perRecordCoreS)} records per core-second)`,
    `(wall time per repo, fitted over the ${f(r.perRepo.length)} repos: ${f(a, 1)} ms + ${f(b, 4)} ms x records; the fixed part is mostly waiting on the shared machine, not CPU)`,
    `network: ${NETWORK.repos.toExponential(1)} repos x ${perRepoCoreS.toExponential(3)} + ${NETWORK.records.toExponential(2)} records x ${perRecordCoreS.toExponential(3)} = ${f(coreS)} core-s`,
    `16 cores x ${MACHINE.efficiency} efficiency = ${f(usable, 1)} cores doing measured work, split as measured: ${f(usable * nodeShare, 1)} for backfill processes (one JS thread each: ${Math.ceil(usable * nodeShare)} x \`skytide run --only backfill\`), ${f(usable * (1 - nodeShare), 1)} for Postgres`,
    `projection: ${f(coreS)} / ${f(usable, 1)} / ${DAY_S} = ${f(days, 2)} days (goal: under 7)`,
    `wall: ${f(cpu, 1)} core-s in ${f(r.wallMs / 1000, 1)} s = ${f(cpu / (r.wallMs / 1000), 2)} cores busy on average (os.loadavg at the end: ${os.loadavg().map((l) => l.toFixed(1)).join(', ')}), so the wall rate is this shared machine's floor, not a machine's rate; the projection uses CPU time. Wall rate x 8 would give ${f(NETWORK.records / (wallRate * 8) / DAY_S, 2)} days`,
    `data: CARs ${f(r.carBytes / r.records)} bytes/record -> ${f((NETWORK.records * r.carBytes) / r.records / 1e12, 1)} TB to download (${f((NETWORK.records * r.carBytes) / r.records / (days * DAY_S) / 1e6, 1)} MB/s over the projection); Postgres ${f(r.dbBytes / r.records)} bytes/record -> ${f((NETWORK.records * r.dbBytes) / r.records / 1e12, 1)} TB`,
  ];
  return { lines, days, nodeCores: usable * nodeShare, postgresCores: usable * (1 - nodeShare) };
}

/** One backfill in its own process; every record must have been indexed. */
function measure(kind: 'network' | 'tiny', records: number): Measured {
  const child = spawnSync(process.execPath, [new URL('./network-child.ts', import.meta.url).pathname, kind], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 * 2 ** 20 });
  if (child.status !== 0) throw new Error(`${kind} backfill failed (exit ${child.status})`);
  const result = JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '{}') as Measured;
  if (result.failures.length > 0 || result.indexed.record !== records) {
    throw new Error(`${kind}: not every record was indexed: ${result.indexed.record} of ${records}; failures: ${result.failures.slice(0, 5).join('; ')}`);
  }
  return result;
}

export async function runNetworkBench(): Promise<BenchRow[]> {
  const network = await syntheticNetwork(NETWORK_SHAPE, (line) => process.stdout.write(`  ${line}\n`));
  process.stdout.write(`  network: ${network.repos.length} repos, ${network.records} records, ${(network.carBytes / 1e6).toFixed(0)} MB of CARs (cached in ${network.dir})\n`);
  const result = measure('network', network.records);
  await syntheticNetwork(TINY_SHAPE);
  const tiny = measure('tiny', TINY_SHAPE.repos);
  process.stdout.write(`  tiny: ${tiny.repos} one-record repos in ${(tiny.wallMs / 1000).toFixed(1)} s, ${(tiny.nodeCpuS + tiny.postgresCpuS).toFixed(1)} core-s\n`);
  const projection = project(result, tiny);
  for (const line of projection.lines) process.stdout.write(`  ${line}\n`);
  const wallS = result.wallMs / 1000;
  return [
    { name: `network backfill: ${result.repos} repos (download, verify, index)`, unit: 'records/s', value: result.records / wallS, note: `${(result.repos / wallS).toFixed(1)} repos/s, peak RSS ${result.peakRssMb.toFixed(0)} MB, concurrency ${result.concurrency}` },
    { name: 'network backfill: CPU per record (node + Postgres)', unit: 'records/core-s', value: result.records / (result.nodeCpuS + result.postgresCpuS), note: `${((result.nodeCpuS / (result.nodeCpuS + result.postgresCpuS)) * 100).toFixed(0)}% node` },
    { name: 'network projection: 40M repos, 18.5B records, 16 cores', unit: 'days', value: projection.days, ratio: 7 / projection.days, baseline: 'the 7-day goal', note: 'arithmetic printed by the run and in the README (Performance)' },
  ];
}
