// The HostSlots port (functions/ports.ts): at most `perHost` downloads at once from any one host, so a backfill sweep
// over thousands of repos spreads its load instead of hammering the PDS that hosts many of them; other hosts are not
// held up. A slot is taken before a download starts and held until it is over (its body read whole), and the
// download's deadline and stall timer start inside it (functions/backfill-repo/handler.ts), once the slot is ours:
// time spent in our own queue is never charged to the PDS as a stall or a missed deadline. (A limit inside the fetch
// did charge it: a request queued there behind a long download was cut as "stalled" though never sent.)
// A host's limit is kept only while a download of it runs or waits: the hosts come from DID documents, which may name
// any number of them, so a limit kept for every host ever fetched from would grow without bound.
import pLimit, { type LimitFunction } from 'p-limit';
import type { HostSlots } from '../../functions/ports.ts';

export type CountedHostSlots = HostSlots & {
  /** Hosts with a download running or waiting (what the limits hold in memory). */
  busyHosts(): number;
};

/** One host's limit, and how many downloads hold it (running or waiting). */
interface HostLimit {
  limit: LimitFunction;
  users: number;
}

export function createHostSlots(perHost: number): CountedHostSlots {
  const hosts = new Map<string, HostLimit>();
  return {
    async run(url, download) {
      const host = new URL(url).host;
      let held = hosts.get(host);
      if (held === undefined) hosts.set(host, (held = { limit: pLimit(perHost), users: 0 }));
      const mine = held;
      mine.users++;
      try {
        return await mine.limit(download);
      } finally {
        // The last one done forgets the host; one arriving meanwhile makes a new limit (the old one has no work left).
        if (--mine.users === 0 && hosts.get(host) === mine) hosts.delete(host);
      }
    },
    busyHosts: () => hosts.size,
  };
}
