// The Fetch port for URLs from the network on Web runtimes (Workers). The platform's fetch cannot reach private
// addresses and resolves names itself, so the connection-pinning guard of guarded-fetch-node.ts has nothing to pin
// here; what stays ours: https only, no literal internal address in the URL (judged by the same policy), and no
// redirects followed (refused, or handed back as the 3xx when the caller asked 'manual'). Same options shape as the Node guard, so `#guarded-fetch` can pick either.
import type { Fetch } from '../../functions/ports.ts';
import { RedirectRefusedError, SkytideError } from '../../functions/errors.ts';
import { judgeAddress } from './address-policy.ts';

export interface GuardedFetchOptions {
  allowPrivate: boolean;
  /** The platform fetch; injectable for tests. */
  fetch?: Fetch;
}

export function createGuardedFetch(options: GuardedFetchOptions): Fetch {
  const inner = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  return async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (!options.allowPrivate) {
      if (url.protocol !== 'https:') throw new SkytideError('forbidden_address', `refusing a non-https URL from the network: ${url.origin}`, { url: url.origin });
      const host = url.hostname.replace(/^\[|\]$/g, '');
      const literal = /^[\d.]+$/.test(host) || host.includes(':');
      const verdict = literal ? judgeAddress(host) : { public: true as const };
      if (!verdict.public) throw new SkytideError('forbidden_address', `refusing ${url.origin}: ${host} is an internal address (${verdict.range})`, { host });
    }
    const res = await inner(input, { ...init, redirect: 'manual' });
    const asked = init?.redirect ?? (input instanceof Request ? input.redirect : 'follow');
    if (res.status >= 300 && res.status < 400 && res.status !== 304 && asked !== 'manual') {
      await res.body?.cancel();
      throw new RedirectRefusedError(url.origin, res.status);
    }
    return res;
  };
}
