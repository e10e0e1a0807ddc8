// `npm run bench`: every benchmark, each measured next to its baseline in the same run, printed as one table of
// ratios. Not part of `npm test`: tests never assert on wall-clock time.
import type { BenchRow } from './types.ts';

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
];

function format(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2);
}

const only = process.argv.slice(2);
let failed = false;
for (const suite of SUITES.filter((s) => only.length === 0 || only.includes(s.name))) {
  process.stdout.write(`\n== ${suite.name}\n`);
  try {
    const rows = await (await suite.load())();
    for (const row of rows) {
      const ratio = row.ratio === undefined ? '' : `  ${row.ratio.toFixed(2)}x ${row.baseline ?? 'baseline'}`;
      const note = row.note === undefined ? '' : `  (${row.note})`;
      process.stdout.write(`${row.name.padEnd(48)} ${format(row.value).padStart(12)} ${row.unit}${ratio}${note}\n`);
    }
  } catch (err) {
    failed = true;
    process.stdout.write(`suite ${suite.name} failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  }
}
process.exit(failed ? 1 : 0);
