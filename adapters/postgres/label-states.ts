// How many (src, uri, val) have a label in force, an expired one, or a negation, for `skytide status`, `GET /` and
// the skytide_labels gauge. Counting reads every label row, so it is cached: the first read waits for a count, later
// reads answer at once with the last count and its age, and a count older than LABEL_STATES_MAX_AGE_MS is redone in
// the background. A scrape therefore never scans the table; the age is stated beside the numbers.
import type { Clock, Log, SqlExecutor } from '../../functions/ports.ts';
import { describeError } from '../../functions/errors.ts';
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
  const maxAge = options.maxAgeMs ?? LABEL_STATES_MAX_AGE_MS;
  let last: { counts: LabelStateCounts; at: number } | undefined;
  let inflight: Promise<{ counts: LabelStateCounts; at: number }> | undefined;
  const count = () =>
    (inflight ??= (async () => {
      const at = options.clock.now();
      const counts = await countLabelStates(options.sql, options.clock);
      return (last = { counts, at });
    })().finally(() => (inflight = undefined)));
  const view = (v: { counts: LabelStateCounts; at: number }): LabelStates => ({
    ...v.counts,
    asOf: new Date(v.at).toISOString(),
    ageSeconds: Math.max(0, Math.round((options.clock.now() - v.at) / 1000)),
  });
  return {
    async read() {
      if (last === undefined) return view(await count());
      if (options.clock.now() - last.at > maxAge) {
        count().catch((err) => options.log.warn('label count failed', { err: describeError(err) }));
      }
      return view(last);
    },
  };
}
