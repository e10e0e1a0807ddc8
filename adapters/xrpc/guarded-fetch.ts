// The Fetch port for URLs that come from the network (PDS endpoints from DID documents): https only and no internal
// addresses unless the deployment allows them (local dev networks), and no redirects that could lead around that.
import type { Fetch } from '../../functions/ports.ts';
import { assertPublicUrl } from './outbound.ts';

export function createGuardedFetch(options: { allowPrivate: boolean; fetch?: Fetch }): Fetch {
  const inner = options.fetch ?? globalThis.fetch;
  return async (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    if (!options.allowPrivate) await assertPublicUrl(url);
    return inner(input, { ...init, redirect: 'error' });
  };
}
