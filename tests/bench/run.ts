// `npm run bench`: every benchmark, each measured next to its baseline in the same run, printed as one table of
// ratios and written to tests/bench/report/ (README.md and one SVG chart per suite; report.ts renders them). Not part
// of `npm test`: tests never assert on wall-clock time.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { createRequire } from 'node:module';
import postgres from 'postgres';
import type { BenchRow } from './types.ts';
import { startPrivatePostgres, type PrivatePostgres } from '../helpers/private-services.ts';
import { recordRun, renderReadme, renderSuiteSvg, type BenchResults, type Environment } from './report.ts';

interface Suite {
  name: string;
  load: () => Promise<() => Promise<BenchRow[]>>;
}

const SUITES: Suite[] = [
  { name: 'decode', load: async () => (await import('./decode.bench.ts')).runDecodeBench },
  { name: 'index', load: async () => (await import('./index.bench.ts')).runIndexBench },
  { name: 'verify', load: async () => (await import('./verify.bench.ts')).runVerifyBench },
  { name: 'commit', load: async () => (await import('./commit-verify.bench.ts')).runCommitVerifyBench },
  { name: 'ingest', load: async () => (await import('./ingest.bench.ts')).runIngestBench },
  { name: 'network', load: async () => (await import('./network.bench.ts')).runNetworkBench },
];

/** The references the suites measure against: their versions belong next to the figures. */
const REFERENCES = ['@atproto/bsky', '@atproto/repo', '@atproto/sync', '@atproto/crypto', '@atproto/xrpc-server', '@atcute/cbor', '@atcute/car', '@atcute/crypto', '@atcute/repo', 'postgres'];

const REPORT_DIR = new URL('./report/', import.meta.url);
const RESULTS = new URL('results.json', REPORT_DIR);

function format(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2);
}

function environment(): Environment {
  const require = createRequire(import.meta.url);
  const packages: Record<string, string> = {};
  for (const name of REFERENCES) {
    try {
      packages[name] = (require(`${name}/package.json`) as { version: string }).version;
    } catch {
      // Not resolvable through its exports map: read it from node_modules instead.
      const file = new URL(`../../node_modules/${name}/package.json`, import.meta.url);
      if (existsSync(file)) packages[name] = (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
    }
  }
  let postgresServer = 'unknown';
  try {
    postgresServer = execFileSync('psql', ['--version'], { encoding: 'utf8' }).trim().replace(/^psql \(PostgreSQL\) /, '');
  } catch {
    // psql absent: the server version stays unknown.
  }
  packages['PostgreSQL server'] = postgresServer;
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown CPU',
    cores: os.cpus().length,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    node: process.versions.node,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    packages,
  };
}

function commit(): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() !== '';
    return dirty ? `${sha}+changes` : sha;
  } catch {
    return 'unknown';
  }
}

const only = process.argv.slice(2);
let failed = false;
// BENCH_POSTGRES=private: the suites run against a private cluster of the machine's PostgreSQL (on this machine's
// cores, in a temporary folder) with BENCH_POSTGRES_SETTINGS (`name=value,...`), instead of TEST_DATABASE_URL's
// server, to measure what server settings change (tests/bench/performance-log.md, "A long run"). The suites are
// loaded after this, so their helpers read the new TEST_DATABASE_URL.
const privatePostgres = process.env['BENCH_POSTGRES'] === 'private' ? await startBenchPostgres(process.env['BENCH_POSTGRES_SETTINGS'] ?? '') : undefined;
let results: BenchResults = existsSync(RESULTS) ? (JSON.parse(readFileSync(RESULTS, 'utf8')) as BenchResults) : { environment: environment(), suites: {} };
results = { ...results, environment: environment() };
if (privatePostgres !== undefined) {
  const server = results.environment.packages['PostgreSQL server'];
  results.environment.packages['PostgreSQL server'] = `${server} (a private cluster: ${privatePostgres.settings || 'its defaults'})`;
}
for (const suite of SUITES.filter((s) => only.length === 0 || only.includes(s.name))) {
  process.stdout.write(`\n== ${suite.name}\n`);
  try {
    const rows = await (await suite.load())();
    for (const row of rows) {
      const ratio = row.ratio === undefined ? '' : `  ${row.ratio.toFixed(2)}x ${row.baseline ?? 'baseline'}`;
      const note = row.note === undefined ? '' : `  (${row.note})`;
      process.stdout.write(`${row.name.padEnd(48)} ${format(row.value).padStart(12)} ${row.unit}${ratio}${note}\n`);
    }
    results = recordRun(results, suite.name, { at: new Date().toISOString(), commit: commit(), rows });
  } catch (err) {
    failed = true;
    process.stdout.write(`suite ${suite.name} failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  }
}
mkdirSync(REPORT_DIR, { recursive: true });
writeFileSync(RESULTS, JSON.stringify(results, null, 2) + '\n');
for (const [name, history] of Object.entries(results.suites)) writeFileSync(new URL(`${name}.svg`, REPORT_DIR), renderSuiteSvg(name, history));
writeFileSync(new URL('README.md', REPORT_DIR), renderReadme(results, SUITES.map((s) => s.name)));
process.stdout.write(`\nreport written to tests/bench/report/README.md\n`);
await privatePostgres?.server.close();
process.exit(failed ? 1 : 0);

async function startBenchPostgres(list: string): Promise<{ server: PrivatePostgres; settings: string }> {
  const settings = Object.fromEntries(list.split(',').map((s) => s.trim()).filter((s) => s !== '').map((s) => {
    const at = s.indexOf('=');
    if (at <= 0) throw new Error(`BENCH_POSTGRES_SETTINGS: not name=value: ${JSON.stringify(s)}`);
    return [s.slice(0, at), s.slice(at + 1)];
  }));
  const server = await startPrivatePostgres(settings);
  const admin = postgres(server.url, { max: 1, onnotice: () => {} });
  await admin.unsafe('create extension if not exists pg_trgm');
  await admin.end();
  process.env['TEST_DATABASE_URL'] = server.url;
  process.stderr.write(`private PostgreSQL on port ${server.port}${list === '' ? '' : ` with ${list}`}\n`);
  return { server, settings: list };
}
