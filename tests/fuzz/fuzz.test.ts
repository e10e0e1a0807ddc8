// A bounded sample of the fuzzer (issue 13) in `npm test`: mutated real inputs and fast-check generated ones against
// frame decoding, commit verification with MST inversion, CAR reading, MST walking, DAG-CBOR to lex-JSON, label
// decoding and the HTTP routes. No crash, no hang, no disagreement with the reference that is not explained, every
// rejection from the closed set. `npm run test:long` runs 1,000,000 cases (fuzz.long.test.ts).
import { describe, expect, it } from 'vitest';
import { buildTargets } from './targets.ts';
import { describeFuzz, runFuzz } from './run-fuzz.ts';
import { seedFromEnv } from '../helpers/seeded-random.ts';

describe('fuzz (bounded sample)', () => {
  it('survives 10,000 hostile cases with every rejection reasoned', async () => {
    const targets = await buildTargets();
    const stats = await runFuzz(targets, { cases: 10_000, seed: seedFromEnv(process.env['FUZZ_SEED']), caseTimeBoundMs: 2000 });
    console.log(describeFuzz(stats));
    expect(stats.crashes).toEqual([]);
    expect(stats.hangs).toEqual([]);
    expect(Object.entries(stats.disagreements).filter(([, d]) => !d.explained)).toEqual([]);
    expect(stats.rssPeakMb - stats.rssStartMb).toBeLessThan(400);
  }, 120_000);
});
