// Millisecond settings reach timers (setTimeout, setInterval, AbortSignal.timeout), whose longest delay is 2^31 - 1 ms:
// Node fires a longer one after about 1 ms. BACKFILLER_TIMEOUT_MS=3000000000 was accepted and cut every repo download
// at once (each good repo dead-lettered), SWEEP_PAGE_TIMEOUT_MS past it left the sweeper waiting for ever.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../adapters/config/parse.ts';
import { configProblems } from '../../helpers/config-problems.ts';
import { MAX_TIMER_MS, VARS, type VarSpec } from '../../../adapters/config/vars.ts';

const problemsOf = configProblems;

describe('millisecond settings: bounded by what a timer can wait', () => {
  it('is 2^31 - 1 ms', () => {
    expect(MAX_TIMER_MS).toBe(2 ** 31 - 1);
  });

  it('refuses a value past the limit, naming the variable and why', () => {
    for (const name of ['BACKFILLER_TIMEOUT_MS', 'SWEEP_PAGE_TIMEOUT_MS', 'INDEXER_CLAIM_IDLE_MS', 'SWEEP_LEASE_TTL_MS', 'INGESTER_BATCH_TIMEOUT_MS']) {
      for (const value of ['2147483648', '3000000000', '4294967296']) {
        expect(problemsOf({ [name]: value }), `${name}=${value}`).toEqual([
          `${name}=${value} is out of range [${(VARS as readonly VarSpec[]).find((v) => v.name === name)?.min}, 2147483647] (2147483647 ms, 24.8 days, is the longest a timer can wait)`,
        ]);
      }
    }
  });

  it('takes the limit itself', () => {
    expect(parseConfig({ BACKFILLER_TIMEOUT_MS: '2147483647', SKYTIDE_TASK_STUCK_MS: '0' }).config.backfillerTimeoutMs).toBe(2_147_483_647);
    expect(parseConfig({ SWEEP_PAGE_TIMEOUT_MS: '2147483647' }).config.sweepPageTimeoutMs).toBe(2_147_483_647);
  });

  it('gives every millisecond variable a max at or below the limit, so a new one cannot forget it', () => {
    const ms = (VARS as readonly VarSpec[]).filter((v) => /_MS$|_SECONDS$/.test(v.name));
    expect(ms.length).toBeGreaterThanOrEqual(13);
    for (const spec of ms) {
      expect(spec.type, spec.name).toBe('int');
      // Seconds reach a timer times 1000.
      const limit = spec.name.endsWith('_SECONDS') ? Math.floor(MAX_TIMER_MS / 1000) : MAX_TIMER_MS;
      expect(spec.max, spec.name).toBeDefined();
      expect(spec.max ?? Number.POSITIVE_INFINITY, spec.name).toBeLessThanOrEqual(limit);
    }
  });
});
