// Resolves did:plc (from the PLC directory) and did:web (/.well-known/did.json at the host, no paths, redirects
// followed as follow-redirects.ts says) over the Fetch port, with a timeout, a size cap, and outbound-address rules:
// a DID document from the network must not make us call a private address (a hostile document pointing the backfill
// at internal services). Loopback and private hosts are allowed only when the deployment says so (dev networks and
// tests run on 127.0.0.1).
import type { Fetch } from '../../functions/ports.ts';
import { DependencyError, SkytideError, dependencyErrorIn } from '../../functions/errors.ts';
import { didWebHost, isValidDid, unresolvableDid } from '../../functions/atproto/syntax/did.ts';
import { classifyNetworkFailure } from '../../functions/network-failure.ts';
import { DidHostUnavailableError, DidTombstonedError, parseDidDocument, type AtprotoIdentity, type IdentityResolver } from '../../functions/atproto/identity/did-document.ts';
import { createGuardedFetch } from '../xrpc/guarded-fetch.ts';
import { fetchFollowingRedirects } from './follow-redirects.ts';

export interface ResolverOptions {
  fetch: Fetch;
  plcUrl: string;
  timeoutMs?: number;
  maxDocumentBytes?: number;
  /** Let DID documents and PDS endpoints use loopback / private addresses (dev and tests only). */
  allowPrivate?: boolean;
  /**
   * Fetches did:web documents when private addresses are not allowed: a guard that checks the address it connects
   * to (default: the runtime's guarded fetch). `fetch` stays for the PLC directory, which is configuration.
   */
  webFetch?: Fetch;
}

/** An answer that is no JSON at all: a did:web host's defect, or a PLC directory that is not itself (an outage). */
class NotJsonError extends SkytideError {
  constructor(message: string) {
    super('identity_failed', message);
    this.name = 'NotJsonError';
  }
}

async function readJson(res: Response, maxBytes: number, what: string): Promise<unknown> {
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > maxBytes) {
    // Unread, the body would hold its connection until the deadline.
    await res.body?.cancel().catch(() => {});
    throw new SkytideError('document_too_big', `${what} is ${declared} bytes, over ${maxBytes}`);
  }
  const reader = res.body?.getReader();
  if (reader === undefined) throw new NotJsonError(`${what} has no body`);
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > maxBytes) {
      await reader.cancel();
      throw new SkytideError('document_too_big', `${what} exceeds ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  try {
    return JSON.parse(new TextDecoder().decode(Buffer.concat(chunks)));
  } catch {
    throw new NotJsonError(`${what} is not JSON`);
  }
}

/**
 * Why a DID document could not be fetched. The PLC directory is a dependency: unreachable, timing out, 5xx or 429
 * is an outage (waited out). A did:web host is the DID's own: its failures are that DID's problem, except a DNS
 * resolver that is down, which is everyone's.
 */
function fetchFailure(did: string, err: unknown): SkytideError {
  if (did.startsWith('did:plc:')) return new DependencyError('plc', `PLC directory unreachable resolving ${did}`, { did }, { cause: err });
  // A refused connection to the did:web host is that host's failure; only a resolver that fails is an outage.
  const failure = classifyNetworkFailure(err);
  if (failure.kind === 'dns_outage') return new DependencyError('dns', `DNS unavailable resolving ${did}`, { did, code: failure.code }, { cause: err });
  return new DidHostUnavailableError(`fetching the DID document of ${did} failed`, { did }, { cause: err });
}

export function createIdentityResolver(options: ResolverOptions): IdentityResolver {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxBytes = options.maxDocumentBytes ?? 64 * 1024;
  const webFetch = options.allowPrivate === true ? options.fetch : (options.webFetch ?? createGuardedFetch({ allowPrivate: false }));
  const documentUrl = (did: string): string => {
    if (did.startsWith('did:plc:')) return `${options.plcUrl.replace(/\/+$/, '')}/${encodeURIComponent(did)}`;
    const host = didWebHost(did);
    const scheme = options.allowPrivate === true && host.startsWith('localhost') ? 'http' : 'https';
    return `${scheme}://${host}/.well-known/did.json`;
  };
  return {
    async resolve(did: string): Promise<AtprotoIdentity> {
      if (!isValidDid(did)) throw new SkytideError('invalid_syntax', `not a DID: ${JSON.stringify(did)}`);
      // A DID that cannot exist is the DID's own defect: refused without asking anyone.
      const unresolvable = unresolvableDid(did);
      if (unresolvable !== undefined) throw new SkytideError('identity_failed', `${did} cannot be resolved: ${unresolvable}`, { did });
      const url = documentUrl(did);
      // The PLC directory is configuration we trust; a did:web host comes from the network.
      const fetch = did.startsWith('did:web:') ? webFetch : options.fetch;
      let res: Response;
      try {
        const init = { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } };
        // A did:web host may redirect (a few hops, each judged by the guard); the directory may not. NOTE: 'manual',
        // not 'error', which workerd refuses outright: the directory's redirect comes back as a 3xx, not followed below.
        res = did.startsWith('did:web:') ? await fetchFollowingRedirects(fetch, url, init) : await fetch(url, { ...init, redirect: 'manual' });
      } catch (err) {
        // The DID's own host failing (its DNS broken while our resolver answers others: dns-outage-check.ts) is that
        // host being unavailable, as when it refuses connections: waited for, its cached identity kept. Taken for a
        // verdict, it deleted the cache and sent the DID's labels towards the DLQ.
        if (did.startsWith('did:web:') && err instanceof SkytideError && err.reason === 'fetch_failed') {
          throw new DidHostUnavailableError(`fetching the DID document of ${did} failed: ${err.message}`, { did }, { cause: err });
        }
        // The directory failing is always an outage, whatever judged it on the way: the DNS check (its reference name
        // is the directory's own, so a flaky resolver or a check remembered from another host's failure said
        // "fetch_failed") made a blip of our DNS a verdict on the DID, its cached identity deleted and its repo retried
        // towards the DLQ.
        if (did.startsWith('did:plc:')) throw dependencyErrorIn(err) ?? fetchFailure(did, err);
        if (err instanceof SkytideError) throw err;
        throw fetchFailure(did, err);
      }
      if (!res.ok) {
        await res.body?.cancel();
        // From the directory, 404 and 410 are answers (no such DID, or tombstoned). Any other status says nothing of
        // the DID: the directory fails, sheds load, refuses us (a 401 or 403 from a proxy or WAF in front of it) or
        // redirects (a proxy or a move of the directory; not followed: a 3xx could lead anywhere, and the directory is
        // configuration to fix), an outage of ours, as @atproto/identity and indigo take every status but 404 for a
        // failed lookup rather than a verdict. An outage is not a verdict: it is waited out and asked again.
        // (A runtime that hides a manual redirect answers an `opaqueredirect` of status 0: the same.)
        if (did.startsWith('did:plc:') && res.status !== 404 && res.status !== 410) {
          throw new DependencyError('plc', `PLC directory answered HTTP ${res.status} for ${did}`, { did, status: res.status });
        }
        if (res.status >= 500 || res.status === 429 || res.status === 408) {
          throw new DidHostUnavailableError(`DID document of ${did}: HTTP ${res.status}`, { did, status: res.status });
        }
        // A tombstone is told apart: a backfill takes it for a confirmed deletion, a 404 for a lookup that failed.
        if (did.startsWith('did:plc:') && res.status === 410) throw new DidTombstonedError(did);
        throw new SkytideError('identity_failed', `DID document of ${did}: HTTP ${res.status}`, { did });
      }
      // The PDS endpoint is checked where it is used: the backfill's fetch port is a guarded fetch.
      let doc: unknown;
      try {
        doc = await readJson(res, maxBytes, `DID document of ${did}`);
      } catch (err) {
        // The directory writes its documents itself: an answer that is no JSON (a proxy's maintenance page, an empty
        // body) is the directory failing, not a document of the DID's.
        if (err instanceof NotJsonError && did.startsWith('did:plc:')) {
          throw new DependencyError('plc', `PLC directory answered ${did} with something that is not JSON`, { did }, { cause: err });
        }
        // A body cut off mid-read is the same failure as no answer at all.
        // The directory failing is always an outage, whatever judged it on the way: the DNS check (its reference name
        // is the directory's own, so a flaky resolver or a check remembered from another host's failure said
        // "fetch_failed") made a blip of our DNS a verdict on the DID, its cached identity deleted and its repo retried
        // towards the DLQ.
        if (did.startsWith('did:plc:')) throw dependencyErrorIn(err) ?? fetchFailure(did, err);
        if (err instanceof SkytideError) throw err;
        throw fetchFailure(did, err);
      }
      return parseDidDocument(did, doc);
    },
  };
}
