// Throughput measurement shared by the benchmarks: warm up, then the best of several timed rounds. Competitors are
// measured round-robin (A B C A B C ...), so a slow stretch of this shared machine hits them alike and the ratios hold
// even when the absolute numbers drift.
type Run = () => Promise<number> | number;

async function timed(run: Run, minMs: number): Promise<number> {
  let ops = 0;
  const start = performance.now();
  while (performance.now() - start < minMs) ops += await run();
  return ops / ((performance.now() - start) / 1000);
}

/** Best ops/s of each competitor, measured in interleaved rounds. */
export async function compareOpsPerSecond<K extends string>(runs: Record<K, Run>, rounds = 4, minMs = 600): Promise<Record<K, number>> {
  const names = Object.keys(runs) as K[];
  const best = Object.fromEntries(names.map((n) => [n, 0])) as Record<K, number>;
  for (const name of names) await runs[name](); // warm-up: JIT, caches
  for (let r = 0; r < rounds; r++) {
    for (const name of names) best[name] = Math.max(best[name], await timed(runs[name], minMs));
  }
  return best;
}
