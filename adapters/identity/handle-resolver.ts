// Handle -> DID over the network: DNS TXT `_atproto.<handle>` (exactly one `did=` record) and, in parallel,
// https://<handle>/.well-known/atproto-did; DNS wins when both answer. A deployment on a private network (dev, tests
// with .test handles) can name a resolver service instead: com.atproto.identity.resolveHandle on that host.
import { resolveTxt } from 'node:dns/promises';
import type { Fetch } from '../../functions/ports.ts';
import type { HandleResolver } from '../../functions/atproto/identity/handle.ts';
import { isValidDid } from '../../functions/atproto/syntax/did.ts';

export interface HandleResolverOptions {
  fetch: Fetch;
  /** Resolve through com.atproto.identity.resolveHandle on this service instead of DNS and HTTPS. */
  serviceUrl?: string;
  timeoutMs?: number;
}

async function viaDns(handle: string): Promise<string | undefined> {
  try {
    const records = (await resolveTxt(`_atproto.${handle}`)).map((chunks) => chunks.join(''));
    const dids = records.filter((r) => r.startsWith('did=')).map((r) => r.slice(4));
    return dids.length === 1 && isValidDid(dids[0]!) ? dids[0] : undefined;
  } catch {
    return undefined;
  }
}

async function viaWellKnown(fetch: Fetch, handle: string, timeoutMs: number): Promise<string | undefined> {
  try {
    const res = await fetch(`https://${handle}/.well-known/atproto-did`, { signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
    if (!res.ok) return undefined;
    const line = (await res.text()).slice(0, 2048).split('\n')[0]?.trim() ?? '';
    return isValidDid(line) ? line : undefined;
  } catch {
    return undefined;
  }
}

export function createHandleResolver(options: HandleResolverOptions): HandleResolver {
  const timeoutMs = options.timeoutMs ?? 5000;
  return {
    async resolve(handle) {
      if (options.serviceUrl !== undefined) {
        const res = await options.fetch(`${options.serviceUrl.replace(/\/+$/, '')}/xrpc/com.atproto.identity.resolveHandle?handle=${encodeURIComponent(handle)}`, {
          signal: AbortSignal.timeout(timeoutMs),
        });
        if (!res.ok) return undefined;
        const did = ((await res.json()) as { did?: unknown }).did;
        return typeof did === 'string' && isValidDid(did) ? did : undefined;
      }
      const [dns, web] = await Promise.all([viaDns(handle), viaWellKnown(options.fetch, handle, timeoutMs)]);
      return dns ?? web;
    },
  };
}
