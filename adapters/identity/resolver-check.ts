// Whether our DNS resolver answers, asked by resolving a name we must be able to resolve anyway (the PLC directory's
// host): what tells one name's broken DNS (a lame delegation, dead authoritative servers: that name's problem) from
// our resolver being down (an outage, waited out). Runtime-neutral: the lookup is given, node:dns under Node
// (xrpc/dns-outage-check.ts) or the DoH client on Workers (`#system-dns`), so a DoH service that answers SERVFAIL for
// one handle's domain while it resolves the directory is that domain's failure, not an outage waited out for good.
// Answers are shared and remembered for a few seconds, so an outage costs one lookup, not one per request.
import ipaddr from 'ipaddr.js';

/** How long one answer about the resolver is trusted. */
export const RESOLVER_CHECK_TTL_MS = 5000;

export interface ResolverCheckOptions {
  /** A name that must resolve when our resolver works (the PLC directory's host); IP literals and localhost check nothing. */
  referenceHost: string | undefined;
  lookup: (host: string) => Promise<unknown>;
  now?: () => number;
}

/** true: our resolver answers; false: it does not; undefined: nothing to check it with. */
export type ResolverCheck = () => Promise<boolean | undefined>;

export function createResolverCheck(o: ResolverCheckOptions): ResolverCheck {
  const host = o.referenceHost?.replace(/^\[|\]$/g, '');
  if (host === undefined || host === '' || ipaddr.isValid(host) || host === 'localhost' || host.endsWith('.localhost')) return async () => undefined;
  const now = o.now ?? Date.now;
  let cached: { at: number; answer: Promise<boolean> } | undefined;
  return () => {
    if (cached === undefined || now() - cached.at > RESOLVER_CHECK_TTL_MS) {
      cached = { at: now(), answer: o.lookup(host).then(() => true, () => false) };
    }
    return cached.answer;
  };
}
