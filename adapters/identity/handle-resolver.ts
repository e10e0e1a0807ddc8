// Handle -> DID over the network: DNS TXT `_atproto.<handle>` (exactly one `did=` record) and, in parallel,
// https://<handle>/.well-known/atproto-did (redirects followed, at most 5 hops of https, each through the fetch it is
// given: follow-redirects.ts); DNS wins when both answer. A deployment on a private network (dev, tests
// with .test handles) can name a resolver service instead: com.atproto.identity.resolveHandle on that host.
//
// What it promises (the HandleResolver port): a DID, or undefined only on a definite "points nowhere" (DNS says the
// name or its TXT record does not exist, or holds no usable record, AND the well-known answers 404 or something that
// is not a DID, or its host does not exist). Anything else is "could not find out" and throws: DependencyError('dns')
// when the resolver (or the configured resolver service standing in for it) is down or timed out, a SkytideError
// `identity_failed` when DNS said no and the handle's own web server failed (an error, or a redirect chain too long
// or leading to an internal address), or when DNS failed for the handle while the resolver answers for the PLC
// directory's name (`resolverAnswers`: that domain's broken DNS, not ours). Callers keep the handle they had.
// Either method may verify a handle (identity spec), so a DID from one is the answer even while the other is down,
// including a DID other than the one the document claims (the handle's own server or DNS named it); "nowhere" needs
// both to say no; one failing and the other saying no is that failure, an outage first. indigo's ResolveHandle
// combines them the same way (DNS's DID, else the well-known's, else the DNS error unless it was "not found").
// Which DNS codes are answers is functions/atproto/identity/dns-answer.ts's, shared with the Workers' DoH client.
import { systemDns } from '#system-dns';
import type { Fetch } from '../../functions/ports.ts';
import type { HandleResolver } from '../../functions/atproto/identity/handle.ts';
import { isValidDid } from '../../functions/atproto/syntax/did.ts';
import { isDnsVerdict } from '../../functions/atproto/identity/dns-answer.ts';
import { DependencyError, SkytideError } from '../../functions/errors.ts';
import { fetchFollowingRedirects, RedirectRefusedError } from './follow-redirects.ts';
import { readBodyPrefix } from '../../functions/body-prefix.ts';
import { withDeadline } from '../http/deadline.ts';
import { linkSignals } from '../../functions/linked-signal.ts';

export interface HandleResolverOptions {
  fetch: Fetch;
  /** Resolve through com.atproto.identity.resolveHandle on this service instead of DNS and HTTPS. */
  serviceUrl?: string;
  timeoutMs?: number;
  /**
   * TXT lookups; default the system resolver (`#system-dns`: node:dns under Node, DNS over HTTPS on Workers). Tests
   * point a Resolver or a DoH client at a server of their own.
   */
  resolveTxt?: (name: string) => Promise<string[][]>;
  /**
   * Address lookup of a handle's host, asked only when its well-known could not be fetched, to tell a host that does
   * not exist (an answer) from a resolver that is down (an outage); default the system's (`#system-dns`).
   */
  lookupHost?: (host: string) => Promise<unknown>;
  /**
   * Whether our resolver answers for a name it must resolve anyway (the PLC directory's host:
   * adapters/xrpc/dns-outage-check.ts), asked when DNS said "try again" (SERVFAIL, a timeout) about the handle. While
   * it answers, the failure is that domain's own broken DNS (a lame delegation, dead authoritative servers): could
   * not find out, not an outage, which would be waited out for as long as the domain stays broken. Absent, or
   * undefined (nothing to check with): an outage.
   */
  resolverAnswers?: () => Promise<boolean | undefined>;
}

/** A lookup's answer: a DID, a definite "no", or "could not find out" with its cause. */
type Answer = { kind: 'did'; did: string } | { kind: 'none' } | { kind: 'unknown'; cause: unknown; outage: boolean };

function codeOf(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/** The longest name DNS can carry (RFC 1035, in its dotted text form). */
const MAX_DNS_NAME = 253;

async function viaDns(resolveTxt: (name: string) => Promise<string[][]>, handle: string, timeoutMs: number): Promise<Answer> {
  const name = `_atproto.${handle}`;
  // A valid handle of up to 253 characters can make a name DNS cannot carry: no record can exist under it (the
  // resolver refuses to ask, EBADNAME, which is no outage and must not be waited out as one).
  if (name.length > MAX_DNS_NAME) return { kind: 'none' };
  let records: string[];
  try {
    // The system resolver's own timeouts and retries can take half a minute: bounded like the well-known's fetch.
    records = (await withDeadline(resolveTxt(name), timeoutMs, `DNS query for ${name}`)).map((chunks) => chunks.join(''));
  } catch (err) {
    const code = codeOf(err);
    if (isDnsVerdict(code)) return { kind: 'none' };
    // ESERVFAIL, ETIMEOUT, ECONNREFUSED, EREFUSED, EAI_AGAIN, our deadline...: the resolver did not answer the question.
    return { kind: 'unknown', cause: err, outage: true };
  }
  const dids = records.filter((r) => r.startsWith('did=')).map((r) => r.slice(4));
  return dids.length === 1 && isValidDid(dids[0]!) ? { kind: 'did', did: dids[0]! } : { kind: 'none' };
}

/** `stop`: DNS already answered with a DID, and this lookup's answer is no longer wanted. */
async function viaWellKnown(fetch: Fetch, lookupHost: (host: string) => Promise<unknown>, handle: string, timeoutMs: number, stop: AbortSignal): Promise<Answer> {
  const link = linkSignals([AbortSignal.timeout(timeoutMs), stop]);
  try {
    return await askWellKnown(fetch, lookupHost, handle, timeoutMs, link.signal, stop);
  } finally {
    link.release();
  }
}

async function askWellKnown(fetch: Fetch, lookupHost: (host: string) => Promise<unknown>, handle: string, timeoutMs: number, signal: AbortSignal, stop: AbortSignal): Promise<Answer> {
  let res: Response;
  try {
    res = await fetchFollowingRedirects(fetch, `https://${handle}/.well-known/atproto-did`, { signal });
  } catch (err) {
    if (stop.aborted) return { kind: 'none' };
    // A redirect not followed (too many hops, or to a host we refuse): the handle's own server, misconfigured, but
    // the handle's host exists and answered, so this is no "no" either.
    if (err instanceof RedirectRefusedError) return { kind: 'unknown', cause: err, outage: false };
    // A host we refuse to call (an internal address) will never answer: that is a "no".
    if (err instanceof SkytideError && err.reason === 'forbidden_address') return { kind: 'none' };
    // A host that does not exist answers the question; a resolver that is down does not. The fetch's error does not
    // always say which (the guarded fetch reports any failed lookup alike), so ask the resolver directly.
    try {
      await withDeadline(lookupHost(handle), timeoutMs, `address lookup of ${handle}`);
    } catch (lookupErr) {
      const code = codeOf(lookupErr);
      if (isDnsVerdict(code)) return { kind: 'none' };
      return { kind: 'unknown', cause: lookupErr, outage: true };
    }
    return { kind: 'unknown', cause: err, outage: false };
  }
  if (res.status === 404 || res.status === 410) {
    await res.body?.cancel();
    return { kind: 'none' };
  }
  if (!res.ok) {
    await res.body?.cancel();
    return { kind: 'unknown', cause: new Error(`well-known answered HTTP ${res.status}`), outage: false };
  }
  let line: string;
  try {
    // Whitespace around the DID is allowed, before it too (a leading newline); the DID is then the first line.
    line = (await readTextLimited(res, MAX_WELL_KNOWN_BYTES)).trim().split('\n')[0]?.trim() ?? '';
  } catch (err) {
    return { kind: 'unknown', cause: err, outage: false };
  }
  return isValidDid(line) ? { kind: 'did', did: line } : { kind: 'none' };
}

/** A well-known answer is one DID (at most 2048 characters); more than this is not read (document_too_big). */
const MAX_WELL_KNOWN_BYTES = 8 * 1024;

/** The body as text, reading no more than `max` bytes: a host answering more gets its answer cut there. */
async function readTextLimited(res: Response, max: number): Promise<string> {
  return new TextDecoder().decode((await readBodyPrefix(res, max)).bytes);
}

async function viaService(fetch: Fetch, serviceUrl: string, handle: string, timeoutMs: number): Promise<string | undefined> {
  const url = `${serviceUrl.replace(/\/+$/, '')}/xrpc/com.atproto.identity.resolveHandle?handle=${encodeURIComponent(handle)}`;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new DependencyError('dns', `handle resolver service unreachable resolving ${handle}`, { handle }, { cause: err });
  }
  // 400 (InvalidRequest "Unable to resolve handle", HandleNotFound) and 404 are answers; the rest is the service down.
  if (res.status === 400 || res.status === 404) {
    await res.body?.cancel();
    return undefined;
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new DependencyError('dns', `handle resolver service answered HTTP ${res.status} for ${handle}`, { handle, status: res.status });
  }
  let did: unknown;
  try {
    did = (JSON.parse(await readTextLimited(res, MAX_WELL_KNOWN_BYTES)) as { did?: unknown } | null)?.did;
  } catch {
    return undefined;
  }
  return typeof did === 'string' && isValidDid(did) ? did : undefined;
}

export function createHandleResolver(options: HandleResolverOptions): HandleResolver {
  const timeoutMs = options.timeoutMs ?? 5000;
  const resolveTxt = options.resolveTxt ?? systemDns.resolveTxt;
  const lookupHost = options.lookupHost ?? systemDns.lookupHost;
  return {
    async resolve(handle) {
      if (options.serviceUrl !== undefined) return viaService(options.fetch, options.serviceUrl, handle, timeoutMs);
      // Both asked at once, but a DID in DNS is the answer (the TXT record is authoritative on its own): the
      // well-known is then abandoned rather than waited for, which for a host whose port 443 drops packets is its
      // whole timeout, per handle.
      const web = new AbortController();
      const asking = viaWellKnown(options.fetch, lookupHost, handle, timeoutMs, web.signal);
      const byDns = await viaDns(resolveTxt, handle, timeoutMs);
      if (byDns.kind === 'did') {
        web.abort();
        void asking.catch(() => {});
        return byDns.did;
      }
      const byWeb = await asking;
      if (byWeb.kind === 'did') return byWeb.did;
      if (byDns.kind === 'none' && byWeb.kind === 'none') return undefined;
      const failed = byDns.kind === 'unknown' ? byDns : (byWeb as Extract<Answer, { kind: 'unknown' }>);
      if (failed.outage) {
        if ((await options.resolverAnswers?.()) !== true) throw new DependencyError('dns', `DNS unavailable resolving handle ${handle}`, { handle }, { cause: failed.cause });
        throw new SkytideError('identity_failed', `DNS for handle ${handle} fails while the resolver answers for others`, { handle }, { cause: failed.cause });
      }
      throw new SkytideError('identity_failed', `handle ${handle} could not be resolved`, { handle }, { cause: failed.cause });
    },
  };
}
