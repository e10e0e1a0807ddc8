// Count first, log second: every problem a subscription meets is a counter bump by reason, and a log line only for
// the 1st, 10th, 100th... occurrence of each reason, so a hostile or broken upstream cannot flood the logs.
import type { CounterName, Log, Metrics } from '../../functions/ports.ts';
import type { Reason } from '../../functions/reasons.ts';

export type ReportProblem = (reason: Reason, count?: number, fields?: Record<string, unknown>) => void;

/** True for the 1st, 10th, 100th... call with this key. */
export function createSampler(): (key: string) => number | undefined {
  const counts = new Map<string, number>();
  return (key) => {
    const n = (counts.get(key) ?? 0) + 1;
    counts.set(key, n);
    return Number.isInteger(Math.log10(n)) ? n : undefined;
  };
}

export function createProblemReporter(o: { metrics: Metrics; counter: CounterName; host: string; hostLabel: string; log: Log; msg: string }): ReportProblem {
  const sample = createSampler();
  return (reason, count = 1, fields = {}) => {
    o.metrics.inc(o.counter, { host: o.hostLabel, reason }, count);
    const occurrences = sample(reason);
    if (occurrences !== undefined) o.log.warn(o.msg, { host: o.host, reason, occurrences, ...fields });
  };
}
