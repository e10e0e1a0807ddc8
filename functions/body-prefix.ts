// At most a given number of bytes of a response body, the rest never read: for answers whose size the other side
// decides (a getRepo error body, a listRepos page), so an endless body costs the cap and not the whole deadline.
// Web Streams only, so it runs under Node and in a Worker.

export interface BodyPrefix {
  /** The body's first bytes, never more than the cap. */
  bytes: Uint8Array;
  /** The body ended within the cap; false: it went on, and the stream was cancelled (the connection let go). */
  whole: boolean;
}

export async function readBodyPrefix(res: Response, maxBytes: number): Promise<BodyPrefix> {
  const reader = res.body?.getReader();
  if (reader === undefined) return { bytes: new Uint8Array(0), whole: true };
  const chunks: Uint8Array[] = [];
  let total = 0;
  let whole = true;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    total += value.length;
    if (total > maxBytes) {
      whole = false;
      // Cancelling fails only on a stream already broken: the prefix is what was asked for either way.
      await reader.cancel().catch(() => {});
      break;
    }
  }
  const bytes = new Uint8Array(Math.min(total, maxBytes));
  let at = 0;
  for (const chunk of chunks) {
    const part = chunk.subarray(0, bytes.length - at);
    bytes.set(part, at);
    at += part.length;
  }
  return { bytes, whole };
}
