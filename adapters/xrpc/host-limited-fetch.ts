// A Fetch port that keeps at most `perHost` requests in flight to any one host, so a backfill sweep over thousands
// of repos spreads its load instead of hammering the PDS that hosts many of them. Other hosts are not held up.
import pLimit, { type LimitFunction } from 'p-limit';
import type { Fetch } from '../../functions/ports.ts';

export function createHostLimitedFetch(inner: Fetch, perHost: number): Fetch {
  const limits = new Map<string, LimitFunction>();
  return (input, init) => {
    const host = new URL(input instanceof Request ? input.url : String(input)).host;
    let limit = limits.get(host);
    if (limit === undefined) limits.set(host, (limit = pLimit(perHost)));
    const run = limit;
    // The slot is held until the body is consumed or cancelled: a streamed CAR occupies its host for its whole read.
    return new Promise<Response>((resolve, reject) => {
      void run(async () => {
        let res: Response;
        try {
          res = await inner(input, init);
        } catch (err) {
          reject(err);
          return;
        }
        if (res.body === null) {
          resolve(res);
          return;
        }
        let release: () => void = () => {};
        const done = new Promise<void>((r) => (release = r));
        const reader = res.body.getReader();
        const body = new ReadableStream<Uint8Array>({
          async pull(controller) {
            try {
              const { done: end, value } = await reader.read();
              if (end) {
                controller.close();
                release();
              } else controller.enqueue(value);
            } catch (err) {
              controller.error(err);
              release();
            }
          },
          cancel(reason) {
            release();
            return reader.cancel(reason);
          },
        });
        resolve(new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers }));
        await done;
      });
    });
  };
}
