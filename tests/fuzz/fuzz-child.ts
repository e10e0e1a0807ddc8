// One fuzz process of `npm run test:long` (fuzz.long.test.ts forks two, one per core): runs its share of the cases
// from its own seed and sends its statistics back over IPC.
import { buildTargets } from './targets.ts';
import { describeFuzz, runFuzz } from './run-fuzz.ts';

const cases = Number(process.argv[2]);
const seed = Number(process.argv[3]);
const targets = await buildTargets();
const stats = await runFuzz(targets, {
  cases, seed, caseTimeBoundMs: 2000, progressEvery: 100_000,
  onProgress: (s) => console.log(`[fuzz ${seed}] ${s.cases} cases, ${s.crashes.length} crashes, ${s.hangs.length} hangs, RSS peak ${s.rssPeakMb} MB, ${(s.elapsedMs / 1000).toFixed(0)} s`),
});
console.log(describeFuzz(stats));
process.send!(stats, () => process.exit(0));
