// A Fetch port that keeps at most `perHost` requests in flight to any one host, so a backfill sweep over thousands
// of repos spreads its load instead of hammering the PDS that hosts many of them. Other hosts are not held up.
// A host is remembered only while a request to it is in flight or waiting: the hosts come from DID documents, which
// may name any number of them, so slots kept for every host ever fetched from would grow without bound.
import type { Fetch } from '../../functions/ports.ts';

/** One host's slots: how many are taken, and who waits for one (first come, first served). */
interface HostSlots {
  active: number;
  waiting: (() => void)[];
}

export type HostLimitedFetch = Fetch & {
  /** Hosts with a request in flight or waiting (what the limit holds in memory). */
  busyHosts(): number;
};

export function createHostLimitedFetch(inner: Fetch, perHost: number): HostLimitedFetch {
  const hosts = new Map<string, HostSlots>();

  const acquire = async (host: string): Promise<void> => {
    let slots = hosts.get(host);
    if (slots === undefined) hosts.set(host, (slots = { active: 0, waiting: [] }));
    if (slots.active < perHost) {
      slots.active++;
      return;
    }
    // The slot is handed over by `release`, still counted as taken.
    await new Promise<void>((resolve) => slots.waiting.push(resolve));
  };

  const release = (host: string): void => {
    const slots = hosts.get(host)!;
    const next = slots.waiting.shift();
    if (next !== undefined) next();
    else if (--slots.active === 0) hosts.delete(host);
  };

  const fetch: Fetch = async (input, init) => {
    const host = new URL(input instanceof Request ? input.url : String(input)).host;
    await acquire(host);
    let released = false;
    const done = () => {
      if (released) return;
      released = true;
      release(host);
    };
    let res: Response;
    try {
      res = await inner(input, init);
    } catch (err) {
      done();
      throw err;
    }
    if (res.body === null) {
      done();
      return res;
    }
    // The slot is held until the body is consumed or cancelled: a streamed CAR occupies its host for its whole read.
    const reader = res.body.getReader();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const { done: end, value } = await reader.read();
          if (end) {
            controller.close();
            done();
          } else controller.enqueue(value);
        } catch (err) {
          controller.error(err);
          done();
        }
      },
      cancel(reason) {
        done();
        return reader.cancel(reason);
      },
    });
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
  return Object.assign(fetch, { busyHosts: () => hosts.size });
}
