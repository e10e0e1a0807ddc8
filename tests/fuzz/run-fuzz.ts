// The fuzz loop (issue 13): picks a target by weight, a seed (real or fast-check generated), mutates it, runs it
// under a time bound, and tallies crashes, hangs, disagreements with the reference (explained or not), rejections by
// reason and peak RSS. Deterministic from its seed: FUZZ_SEED replays a run. One process, one loop: the machine's
// two cores are shared, and the targets are fast enough (a few thousand cases a second) that workers would only add
// start-up and memory.
import { createRandom } from '../helpers/seeded-random.ts';
import { mutate } from './mutate.ts';
import type { Target, Verdict } from './targets.ts';

export interface FuzzOptions {
  cases: number;
  seed: number;
  /** A case slower than this is a hang (async cases are also cut off at it). */
  caseTimeBoundMs: number;
  /** Called every `progressEvery` cases (printing). */
  onProgress?: (stats: FuzzStats) => void;
  progressEvery?: number;
}

export interface Example {
  target: string;
  case: number;
  how: string[];
  detail: string;
}

export interface FuzzStats {
  seed: number;
  cases: number;
  byTarget: Record<string, { cases: number; accepted: number; rejected: number }>;
  rejections: Record<string, number>;
  crashes: Example[];
  hangs: Example[];
  disagreements: Record<string, { count: number; explained: boolean; example: Example }>;
  rssStartMb: number;
  rssPeakMb: number;
  rssEndMb: number;
  slowestCaseMs: number;
  /** Cases over the bound once whose second run was within it (the machine paused, not the input). */
  slowOnce: number;
  elapsedMs: number;
}

const mb = () => Math.round(process.memoryUsage().rss / 1024 / 1024);

function timeout(ms: number): { promise: Promise<Verdict>; clear: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<Verdict>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'crash', error: `__hang__ over ${ms} ms` }), ms);
  });
  return { promise, clear: () => clearTimeout(timer) };
}

export async function runFuzz(targets: readonly Target[], o: FuzzOptions): Promise<FuzzStats> {
  const r = createRandom(o.seed);
  const totalWeight = targets.reduce((n, t) => n + t.weight, 0);
  const corpus = targets.flatMap((t) => t.seeds.map((s) => s.bytes));
  const stats: FuzzStats = {
    seed: o.seed, cases: 0, byTarget: {}, rejections: {}, crashes: [], hangs: [], disagreements: {},
    rssStartMb: mb(), rssPeakMb: mb(), rssEndMb: 0, slowestCaseMs: 0, slowOnce: 0, elapsedMs: 0,
  };
  for (const t of targets) stats.byTarget[t.name] = { cases: 0, accepted: 0, rejected: 0 };
  const started = performance.now();
  for (let i = 0; i < o.cases; i++) {
    let pick = r.next() * totalWeight;
    const target = targets.find((t) => (pick -= t.weight) < 0) ?? targets[targets.length - 1]!;
    const seed = r.pick(target.seeds);
    const { bytes, how } = mutate(seed.bytes, r, corpus);
    const attempt = async (): Promise<{ verdict: Verdict; ms: number }> => {
      const t0 = performance.now();
      let verdict: Verdict;
      try {
        const out = target.run(bytes, seed);
        if (out instanceof Promise) {
          const bound = timeout(o.caseTimeBoundMs);
          verdict = await Promise.race([out, bound.promise]);
          bound.clear();
        } else verdict = out;
      } catch (err) {
        verdict = { kind: 'crash', error: `target threw: ${String(err)}` };
      }
      return { verdict, ms: performance.now() - t0 };
    };
    let { verdict, ms } = await attempt();
    if (ms > o.caseTimeBoundMs) {
      // A hang repeats: a case over the bound is run again once, after the loop breathes, so a pause of the machine
      // (two cores shared by many processes, a major GC) is told apart from an input that is slow itself.
      await new Promise((resolve) => setTimeout(resolve, 10));
      const again = await attempt();
      stats.slowOnce++;
      if (again.ms <= o.caseTimeBoundMs) ({ verdict, ms } = again);
    }
    if (ms > stats.slowestCaseMs) stats.slowestCaseMs = ms;
    const example = (detail: string): Example => ({ target: target.name, case: i, how, detail });
    const tally = stats.byTarget[target.name]!;
    tally.cases++;
    stats.cases++;
    if (ms > o.caseTimeBoundMs || (verdict.kind === 'crash' && verdict.error.startsWith('__hang__'))) {
      if (stats.hangs.length < 20) stats.hangs.push(example(`${Math.round(ms)} ms`));
      else stats.hangs.length++;
      continue;
    }
    switch (verdict.kind) {
      case 'accepted':
        tally.accepted++;
        break;
      case 'rejected':
        tally.rejected++;
        stats.rejections[`${target.name}:${verdict.reason}`] = (stats.rejections[`${target.name}:${verdict.reason}`] ?? 0) + 1;
        break;
      case 'crash':
        if (stats.crashes.length < 20) stats.crashes.push(example(verdict.error));
        else stats.crashes.length++;
        break;
      case 'disagreement': {
        const key = `${target.name}:${verdict.category}`;
        const entry = (stats.disagreements[key] ??= { count: 0, explained: verdict.explained, example: example(verdict.detail) });
        entry.count++;
        break;
      }
    }
    if ((i & 1023) === 0) {
      const rss = mb();
      if (rss > stats.rssPeakMb) stats.rssPeakMb = rss;
      // Let timers and GC breathe between bursts of synchronous cases.
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (o.onProgress !== undefined && (i + 1) % (o.progressEvery ?? 100_000) === 0) o.onProgress({ ...stats, elapsedMs: performance.now() - started });
  }
  stats.rssEndMb = mb();
  stats.rssPeakMb = Math.max(stats.rssPeakMb, stats.rssEndMb);
  stats.elapsedMs = performance.now() - started;
  return stats;
}

/** The lines a person reads: cases, crashes, hangs, disagreements (explained or not) and memory. */
export function describeFuzz(s: FuzzStats): string {
  const lines = [
    `fuzz seed ${s.seed}: ${s.cases} cases in ${(s.elapsedMs / 1000).toFixed(1)} s (${Math.round(s.cases / (s.elapsedMs / 1000))}/s), slowest case ${s.slowestCaseMs.toFixed(0)} ms`,
    `crashes ${s.crashes.length}, hangs ${s.hangs.length} (cases over the bound once, within it when run again: ${s.slowOnce}), RSS start ${s.rssStartMb} MB, peak ${s.rssPeakMb} MB, end ${s.rssEndMb} MB`,
    ...Object.entries(s.byTarget).map(([name, t]) => `  ${name}: ${t.cases} cases, ${t.accepted} accepted, ${t.rejected} rejected`),
    `disagreements with the reference:`,
    ...Object.entries(s.disagreements).map(([k, d]) => `  ${k}: ${d.count} (${d.explained ? 'explained' : 'UNEXPLAINED'}) e.g. case ${d.example.case} [${d.example.how.join(',')}] ${d.example.detail.slice(0, 120)}`),
    ...s.crashes.slice(0, 5).map((c) => `  crash: ${c.target} case ${c.case} [${c.how.join(',')}] ${c.detail.slice(0, 200)}`),
    ...s.hangs.slice(0, 5).map((c) => `  hang: ${c.target} case ${c.case} [${c.how.join(',')}] ${c.detail}`),
  ];
  return lines.join('\n');
}
