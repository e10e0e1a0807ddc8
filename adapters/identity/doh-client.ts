// DNS over HTTPS (the JSON API of cloudflare-dns.com, dns.google...) with node:dns's promise shapes and error codes,
// for runtimes without a resolver of their own (Workers). The answer is judged by functions/atproto/identity/dns-answer.ts:
// NXDOMAIN and "no such record" raise ENOTFOUND and ENODATA (verdicts); SERVFAIL, REFUSED, a non-2xx reply, a body
// that is not a DoH JSON answer, an unreachable or slow service raise the codes c-ares gives for the same (outages).
import type { Fetch } from '../../functions/ports.ts';
import { readBodyPrefix } from '../../functions/body-prefix.ts';
import { isDnsVerdict, readDohAnswer, txtChunks, type DnsType } from '../../functions/atproto/identity/dns-answer.ts';

export const CLOUDFLARE_DOH_URL = 'https://cloudflare-dns.com/dns-query';

export interface DohClientOptions {
  fetch: Fetch;
  /** The service's JSON endpoint; default cloudflare-dns.com. Tests point it at a server of their own. */
  url?: string;
  timeoutMs?: number;
}

export interface DohClient {
  /** As node:dns's resolveTxt: each record's character-strings. */
  resolveTxt(name: string): Promise<string[][]>;
  /** As node:dns's lookup, for "does this host exist": its addresses, A then AAAA. */
  lookup(host: string): Promise<string[]>;
}

/** A DoH JSON answer is small; a reply past this is not one. */
const MAX_ANSWER_BYTES = 64 * 1024;

type DnsError = Error & { code: string };

function dnsError(code: string, name: string, type: DnsType, cause?: unknown): DnsError {
  return Object.assign(new Error(`DoH query${type} ${name} failed: ${code}`, cause === undefined ? undefined : { cause }), {
    code, syscall: `query${type}`, hostname: name,
  });
}

export function createDohClient(options: DohClientOptions): DohClient {
  const endpoint = options.url ?? CLOUDFLARE_DOH_URL;
  const timeoutMs = options.timeoutMs ?? 5000;

  async function query(name: string, type: DnsType): Promise<string[]> {
    const url = new URL(endpoint);
    url.searchParams.set('name', name);
    url.searchParams.set('type', type);
    let res: Response;
    try {
      res = await options.fetch(url, { headers: { accept: 'application/dns-json' }, signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
      throw dnsError(timedOut ? 'ETIMEOUT' : 'ECONNREFUSED', name, type, err);
    }
    let body: unknown;
    try {
      const prefix = await readBodyPrefix(res, MAX_ANSWER_BYTES);
      body = prefix.whole ? JSON.parse(new TextDecoder().decode(prefix.bytes)) : undefined;
    } catch {
      body = undefined; // not JSON, or the body broke off: no answer
    }
    const answer = readDohAnswer(res.status, body, type);
    if (answer.kind === 'failed') throw dnsError(answer.code, name, type);
    return answer.data;
  }

  return {
    async resolveTxt(name) {
      return (await query(name, 'TXT')).map(txtChunks);
    },
    async lookup(host) {
      const [a, aaaa] = await Promise.allSettled([query(host, 'A'), query(host, 'AAAA')]);
      const addresses = [a, aaaa].flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
      if (addresses.length > 0) return addresses;
      // No address: a verdict only when both questions were answered; an outage of either is the reason.
      const failures = [a, aaaa].map((r) => (r.status === 'rejected' ? (r.reason as DnsError) : dnsError('ENODATA', host, 'A')));
      const outage = failures.find((e) => !isDnsVerdict(e.code));
      throw outage ?? failures.find((e) => e.code === 'ENOTFOUND') ?? failures[0]!;
    },
  };
}
