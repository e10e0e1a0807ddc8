// The global fetch, counting the body bytes its caller reads: a test of a capped read asserts on bytes, not time.
import type { Fetch } from '../../functions/ports.ts';

/** Adds every body chunk the caller reads to `read.bytes`. */
export function countingFetch(read: { bytes: number }): Fetch {
  return async (input, init) => {
    const res = await globalThis.fetch(input, init);
    if (res.body === null) return res;
    const counted = res.body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, out) {
        read.bytes += chunk.length;
        out.enqueue(chunk);
      },
    }));
    return new Response(counted, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}
