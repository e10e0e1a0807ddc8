// How many (src, uri, val) have a label in force, an expired one, or a negation, for `skytide status`, `GET /` and
// the skytide_labels gauge. Counting reads every label row, so it is cached: the first read waits for a count, later
// reads answer at once with the last count and its age, and a count older than LABEL_STATES_MAX_AGE_MS is redone in
// the background. A scrape therefore never scans the table; the age is stated beside the numbers.
import type { Clock, Log, SqlExecutor } from '../../functions/ports.ts';
import { createAgedCount } from './aged-count.ts';
import { countLabelStates, type LabelStateCounts } from '../../functions/label/query.ts';

export const LABEL_STATES_MAX_AGE_MS = 5 * 60_000;

export interface LabelStates extends LabelStateCounts {
  /** When the count was taken (ISO 8601). */
  asOf: string;
  ageSeconds: number;
}

export interface LabelStatesCache {
  read(): Promise<LabelStates>;
}

export function createLabelStatesCache(options: { sql: SqlExecutor; clock: Clock; log: Log; maxAgeMs?: number }): LabelStatesCache {
  const cache = createAgedCount({
    what: 'label',
    clock: options.clock,
    log: options.log,
    maxAgeMs: options.maxAgeMs ?? LABEL_STATES_MAX_AGE_MS,
    count: () => countLabelStates(options.sql, options.clock),
  });
  return {
    async read() {
      const { value, asOf, ageSeconds } = await cache.read();
      return { ...value, asOf, ageSeconds };
    },
  };
}
