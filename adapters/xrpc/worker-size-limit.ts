// A Worker holds a repo's CAR in an isolate of 128 MB, so it refuses a repo over WORKER_MAX_REPO_BYTES before its
// first record is indexed: by the getRepo answer's Content-Length when it has one, and by counting the bytes as they
// stream otherwise (the body errors past the limit, and the backfill never verifies, let alone indexes, a cut CAR).
// The refusal is a verdict, `too_large_for_worker`, counted once per refusal; a container's backfill (no such limit)
// can take the repo from the dead-letter queue.
import { SkytideError } from '../../functions/errors.ts';
import type { Fetch, Metrics } from '../../functions/ports.ts';

const GET_REPO = '/xrpc/com.atproto.sync.getRepo';

function tooLarge(url: string, detail: string, maxBytes: number, metrics: Metrics): SkytideError {
  metrics.inc('skytide_worker_repos_refused_total', { reason: 'too_large_for_worker' });
  return new SkytideError('too_large_for_worker', `repo at ${url} ${detail}, over WORKER_MAX_REPO_BYTES (${maxBytes}): left to a container backfill`, { url, maxBytes });
}

/** The getRepo answers of `fetch`, refused past `maxBytes`; every other request passes unchanged. */
export function withWorkerRepoLimit(fetch: Fetch, maxBytes: number, metrics: Metrics): Fetch {
  return async (input, init) => {
    const res = await fetch(input, init);
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (!res.ok || !new URL(url).pathname.endsWith(GET_REPO) || res.body === null) return res;
    const declared = Number(res.headers.get('content-length'));
    if (Number.isFinite(declared) && declared > maxBytes) {
      await res.body.cancel();
      throw tooLarge(url, `declares ${declared} bytes`, maxBytes, metrics);
    }
    let seen = 0;
    const counted = res.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          seen += chunk.byteLength;
          if (seen > maxBytes) controller.error(tooLarge(url, `streamed past ${seen} bytes`, maxBytes, metrics));
          else controller.enqueue(chunk);
        },
      }),
    );
    return new Response(counted, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}
