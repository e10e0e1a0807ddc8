// A count too costly to take per request (it reads a whole table), cached with its age: the first read waits for a
// count, later reads answer at once with the last one and how old it is, and a count older than `maxAgeMs` is taken
// again in the background, at most one at a time (a failure is logged and the last count kept). What `skytide
// status`, `GET /` and the gauges show of repo sync states and label states, so a scrape costs nothing in the size of
// the network.
import type { Clock, Log } from '../../functions/ports.ts';
import { describeError } from '../../functions/errors.ts';

export interface Aged<T> {
  value: T;
  /** When the count was taken (ISO 8601). */
  asOf: string;
  ageSeconds: number;
}

export function createAgedCount<T>(o: { count: () => Promise<T>; clock: Clock; log: Log; maxAgeMs: number; what: string }): { read(): Promise<Aged<T>> } {
  let last: { value: T; at: number } | undefined;
  let inflight: Promise<{ value: T; at: number }> | undefined;
  const count = () =>
    (inflight ??= (async () => {
      const at = o.clock.now();
      return (last = { value: await o.count(), at });
    })().finally(() => (inflight = undefined)));
  const view = (v: { value: T; at: number }): Aged<T> => ({
    value: v.value,
    asOf: new Date(v.at).toISOString(),
    ageSeconds: Math.max(0, Math.round((o.clock.now() - v.at) / 1000)),
  });
  return {
    async read() {
      if (last === undefined) return view(await count());
      if (o.clock.now() - last.at > o.maxAgeMs) count().catch((err) => o.log.warn(`${o.what} count failed`, { err: describeError(err) }));
      return view(last);
    },
  };
}
