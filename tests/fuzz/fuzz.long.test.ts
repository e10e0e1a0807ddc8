// The long fuzz run (issue 13): 1,000,000 cases over frame decoding, commit verification with MST inversion, CAR
// reading, MST walking, DAG-CBOR to lex-JSON, label decoding and the HTTP routes, split over two processes (the
// machine has two cores). FUZZ_CASES and FUZZ_SEED change the size and replay a run. Prints cases, crashes, hangs,
// disagreements with the reference (each explained, or the test fails) and peak RSS.
import { fork } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { seedFromEnv } from '../helpers/seeded-random.ts';
import type { FuzzStats } from './run-fuzz.ts';

const CASES = Number(process.env['FUZZ_CASES'] ?? 1_000_000);
const PROCESSES = 2;

function runChild(cases: number, seed: number): Promise<FuzzStats> {
  return new Promise((resolve, reject) => {
    const child = fork(new URL('./fuzz-child.ts', import.meta.url).pathname, [String(cases), String(seed)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let stats: FuzzStats | undefined;
    child.on('message', (m) => (stats = m as FuzzStats));
    child.on('exit', (code) => (stats !== undefined ? resolve(stats) : reject(new Error(`fuzz process ${seed} exited ${code} without statistics (a crash of the process itself)`))));
  });
}

describe('fuzz (long)', () => {
  it(`survives ${CASES} hostile cases: no crash, no hang, bounded memory, every disagreement explained`, async () => {
    const seed = seedFromEnv(process.env['FUZZ_SEED']);
    console.log(`fuzz seed ${seed} (FUZZ_SEED=${seed} replays it), ${CASES} cases over ${PROCESSES} processes`);
    const all = await Promise.all(Array.from({ length: PROCESSES }, (_, i) => runChild(Math.ceil(CASES / PROCESSES), (seed + i) >>> 0)));
    const cases = all.reduce((n, s) => n + s.cases, 0);
    const crashes = all.flatMap((s) => s.crashes);
    const hangs = all.flatMap((s) => s.hangs);
    const disagreements = new Map<string, { count: number; explained: boolean }>();
    for (const s of all) {
      for (const [k, d] of Object.entries(s.disagreements)) {
        const e = disagreements.get(k) ?? { count: 0, explained: d.explained };
        e.count += d.count;
        disagreements.set(k, e);
      }
    }
    console.log(`TOTAL: ${cases} cases, ${crashes.length} crashes, ${hangs.length} hangs, peak RSS per process ${all.map((s) => s.rssPeakMb).join(' / ')} MB (start ${all.map((s) => s.rssStartMb).join(' / ')}), slowest case ${Math.max(...all.map((s) => s.slowestCaseMs)).toFixed(0)} ms, over the 2 s bound once but within it when run again ${all.reduce((n, s) => n + s.slowOnce, 0)}`);
    console.log(`disagreements: ${[...disagreements].map(([k, d]) => `${k} ${d.count}${d.explained ? '' : ' UNEXPLAINED'}`).join('; ') || 'none'}`);
    expect(cases).toBeGreaterThanOrEqual(CASES);
    expect(crashes).toEqual([]);
    expect(hangs).toEqual([]);
    expect([...disagreements].filter(([, d]) => !d.explained)).toEqual([]);
    // Bounded memory: a process grows by less than this over its whole run (loose: GC timing varies).
    for (const s of all) expect(s.rssPeakMb - s.rssStartMb).toBeLessThan(500);
  });
});
