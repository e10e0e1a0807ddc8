// The identity fetches from the network (a handle's /.well-known/atproto-did, a did:web's /.well-known/did.json)
// follow redirects, as the handle and DID specs allow ("up to a reasonable number of redirect hops"), and as
// @atproto/identity and indigo do. Promises:
// - at most MAX_IDENTITY_REDIRECTS hops; each hop is a request of its own through the caller's fetch (the guarded
//   fetch in production), so every host on the way is judged by the address it connects to, and a hop to an internal
//   address is refused before any connection is made there;
// - each hop is https; http only when the chain began on http (a local network's did:web, IDENTITY_ALLOW_PRIVATE);
// - a chain this refuses (too long, a Location that is not a usable URL, a scheme it may not use, a hop the fetch
//   refused as an internal address) is a RedirectRefusedError, so a caller tells it from a refusal of the first host.
// Other failures of a later hop (refused, reset, DNS) are thrown as the fetch threw them.
import type { Fetch } from '../../functions/ports.ts';
import { SkytideError } from '../../functions/errors.ts';

export const MAX_IDENTITY_REDIRECTS = 5;

const FOLLOWED = new Set([301, 302, 303, 307, 308]);

/** A redirect chain not followed to its end: `forbidden_address` for a hop to an internal address, else `identity_failed`. */
export class RedirectRefusedError extends SkytideError {
  constructor(reason: 'forbidden_address' | 'identity_failed', message: string, context: Record<string, unknown>, options?: { cause?: unknown }) {
    super(reason, message, context, options);
    this.name = 'RedirectRefusedError';
  }
}

/** GET `url`, following up to MAX_IDENTITY_REDIRECTS redirects; the answer is the first one that is not a followed 3xx. */
export async function fetchFollowingRedirects(fetch: Fetch, url: string, init: RequestInit = {}): Promise<Response> {
  const start = new URL(url);
  let current = start;
  for (let hop = 0; ; hop++) {
    let res: Response;
    try {
      // 'manual': the 3xx comes back to be judged here (the guarded fetch refuses a redirect it would have to follow).
      res = await fetch(current.href, { ...init, redirect: 'manual' });
    } catch (err) {
      if (hop > 0 && err instanceof SkytideError && err.reason === 'forbidden_address') {
        throw new RedirectRefusedError('forbidden_address', `${start.origin} redirects to ${current.origin}, which is refused`, { url: start.origin, to: current.origin }, { cause: err });
      }
      throw err;
    }
    const location = res.headers.get('location');
    if (!FOLLOWED.has(res.status) || location === null) return res;
    await res.body?.cancel();
    if (hop >= MAX_IDENTITY_REDIRECTS) {
      throw new RedirectRefusedError('identity_failed', `${start.origin} redirects more than ${MAX_IDENTITY_REDIRECTS} times`, { url: start.origin });
    }
    let next: URL;
    try {
      next = new URL(location, current);
    } catch {
      throw new RedirectRefusedError('identity_failed', `${current.origin} redirects to an unusable location`, { url: start.origin });
    }
    const allowed = next.protocol === 'https:' || (next.protocol === 'http:' && start.protocol === 'http:');
    if (!allowed) {
      throw new RedirectRefusedError('forbidden_address', `${current.origin} redirects to a ${next.protocol} URL, which is refused`, { url: start.origin, to: next.origin });
    }
    current = next;
  }
}
