// Throughput measurement shared by the benchmarks: warm up, then the best of several timed rounds, with the
// competitors interleaved so machine noise hits them alike.
export async function opsPerSecond(run: () => Promise<number> | number, rounds = 3, minMs = 700): Promise<number> {
  await run(); // warm-up: JIT, caches
  let best = 0;
  for (let r = 0; r < rounds; r++) {
    let ops = 0;
    const start = performance.now();
    while (performance.now() - start < minMs) ops += await run();
    best = Math.max(best, ops / ((performance.now() - start) / 1000));
  }
  return best;
}
