// A Fetch port that keeps at most `perHost` requests in flight to any one host, so a backfill sweep over thousands
// of repos spreads its load instead of hammering the PDS that hosts many of them. Other hosts are not held up.
// A host's limit is kept only while a request to it is in flight or waiting: the hosts come from DID documents, which
// may name any number of them, so a limit kept for every host ever fetched from would grow without bound.
import pLimit, { type LimitFunction } from 'p-limit';
import type { Fetch } from '../../functions/ports.ts';

export type HostLimitedFetch = Fetch & {
  /** Hosts with a request in flight or waiting (what the limit holds in memory). */
  busyHosts(): number;
};

/** One host's limit, and how many requests hold it (in flight or waiting). */
interface HostLimit {
  limit: LimitFunction;
  users: number;
}

export function createHostLimitedFetch(inner: Fetch, perHost: number): HostLimitedFetch {
  const hosts = new Map<string, HostLimit>();
  const fetch: Fetch = (input, init) => {
    const host = new URL(input instanceof Request ? input.url : String(input)).host;
    let held = hosts.get(host);
    if (held === undefined) hosts.set(host, (held = { limit: pLimit(perHost), users: 0 }));
    const mine = held;
    mine.users++;
    return new Promise<Response>((resolve, reject) => {
      void mine.limit(async () => {
        // Ends this request's hold on its slot and, the last one done, forgets the host (synchronously, so the host is
        // gone once the answer is read; a request arriving meanwhile makes a new limit, the old one has no work left).
        let release: () => void = () => {};
        const released = new Promise<void>((r) => (release = r));
        let ended = false;
        const end = () => {
          if (ended) return;
          ended = true;
          if (--mine.users === 0 && hosts.get(host) === mine) hosts.delete(host);
          release();
        };
        let res: Response;
        try {
          res = await inner(input, init);
        } catch (err) {
          end();
          reject(err);
          return;
        }
        if (res.body === null) {
          end();
          resolve(res);
          return;
        }
        // The slot is held until the body is consumed or cancelled: a streamed CAR occupies its host for its whole read.
        const reader = res.body.getReader();
        const body = new ReadableStream<Uint8Array>({
          async pull(controller) {
            try {
              const { done, value } = await reader.read();
              if (done) {
                controller.close();
                end();
              } else controller.enqueue(value);
            } catch (err) {
              controller.error(err);
              end();
            }
          },
          cancel(reason) {
            end();
            return reader.cancel(reason);
          },
        });
        resolve(new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers }));
        await released;
      });
    });
  };
  return Object.assign(fetch, { busyHosts: () => hosts.size });
}
