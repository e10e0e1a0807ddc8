// A test Worker (tests/e2e/worker-dns.test.ts): resolves ?handle= with the handle resolver as the Worker builds it,
// its DNS the system's (`#system-dns`) and its well-known fetched through the guarded fetch, and answers what came of it.
import { createHandleResolver } from '../../../adapters/identity/handle-resolver.ts';
import { createGuardedFetch } from '#guarded-fetch';
import { DependencyError, SkytideError } from '../../../functions/errors.ts';

export default {
  async fetch(req: Request): Promise<Response> {
    const handle = new URL(req.url).searchParams.get('handle');
    if (handle === null) return new Response('up');
    const resolver = createHandleResolver({ fetch: createGuardedFetch({ allowPrivate: false }), timeoutMs: 3000 });
    try {
      return Response.json({ did: (await resolver.resolve(handle)) ?? null });
    } catch (err) {
      if (err instanceof DependencyError) return Response.json({ outage: err.dependency });
      if (err instanceof SkytideError) return Response.json({ failed: err.reason });
      return Response.json({ error: String(err) });
    }
  },
};
