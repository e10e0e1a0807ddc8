// A DNS failure that says "try again later" (EAI_AGAIN, SERVFAIL, a resolver timeout) looks the same whether our
// resolver is down (an outage: every name fails, and the work must wait) or one name's own DNS is broken (a lame
// delegation, a dead authoritative server: that host's problem). Waiting out the second as an outage would hold a
// backfill loop on one repo for as long as that domain stays broken. This Fetch wrapper tells them apart by resolving
// a name we must be able to resolve anyway, the PLC directory's host:
// - it resolves: the failure is the host's own, a `fetch_failed` verdict on it (retried on later deliveries);
// - it does not: our resolver is down, a DependencyError('dns'), waited out.
// Without a name to check (the directory is an IP address or localhost, as on local networks), a DNS failure of that
// kind stays an outage. Checks are shared and remembered for a few seconds, so an outage costs one lookup, not one
// per request. The kinds come from functions/network-failure.ts, the one place that reads error codes.
import { lookup as dnsLookup } from 'node:dns/promises';
import type { Fetch } from '../../functions/ports.ts';
import { DependencyError, SkytideError, dependencyErrorIn } from '../../functions/errors.ts';
import { classifyNetworkFailure } from '../../functions/network-failure.ts';
import { createResolverCheck as resolverCheckWith, type ResolverCheck, type ResolverCheckOptions as CheckOptions } from '../identity/resolver-check.ts';

export { RESOLVER_CHECK_TTL_MS, type ResolverCheck } from '../identity/resolver-check.ts';

export type ResolverCheckOptions = Omit<CheckOptions, 'lookup'> & { lookup?: CheckOptions['lookup'] };

/** The resolver check (identity/resolver-check.ts) with node:dns's lookup by default. */
export function createResolverCheck(o: ResolverCheckOptions): ResolverCheck {
  return resolverCheckWith({ ...o, lookup: o.lookup ?? ((h: string) => dnsLookup(h)) });
}

function hostOf(input: string | URL | Request): string {
  try {
    return new URL(input instanceof Request ? input.url : String(input)).hostname;
  } catch {
    return String(input);
  }
}

export function withDnsOutageCheck(inner: Fetch, resolverAnswers: ResolverCheck): Fetch {
  return async (input, init) => {
    try {
      return await inner(input, init);
    } catch (err) {
      const failure = classifyNetworkFailure(err);
      const dns = failure.kind === 'dns_outage' || dependencyErrorIn(err)?.dependency === 'dns';
      if (!dns) throw err;
      const host = hostOf(input);
      const code = failure.kind === 'dns_outage' ? failure.code : undefined;
      if ((await resolverAnswers()) === true) {
        throw new SkytideError('fetch_failed', `DNS for ${host} fails${code === undefined ? '' : ` (${code})`} while the resolver answers for others`, { host, code }, { cause: err });
      }
      if (err instanceof DependencyError) throw err;
      throw new DependencyError('dns', `DNS unavailable resolving ${host}${code === undefined ? '' : ` (${code})`}`, { host, code }, { cause: err });
    }
  };
}
