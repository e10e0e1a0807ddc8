// What a DNS question's outcome means for handle resolution, in one vocabulary for both runtimes: the error codes
// Node's resolver (c-ares) raises. Under Node they come from node:dns; on Workers skytide asks a DNS-over-HTTPS
// service itself (adapters/identity/doh-client.ts) and turns its JSON answer into the same codes here, so a SERVFAIL
// is an outage on both and NXDOMAIN a verdict on both.
// NOTE: workerd's own node:dns (DoH too) ignores the answer's Status: a SERVFAIL or REFUSED answer has no records, so it
// raises ENOTFOUND, and its lookup() turns any failure into ENOTFOUND. That is why Workers do not use it.

/**
 * The codes that answer the question: the name does not exist (ENOTFOUND, NXDOMAIN) or has no record of the type
 * asked (ENODATA, NODATA). Every other code (ESERVFAIL, EREFUSED, ETIMEOUT, ECONNREFUSED, EBADRESP...) means the
 * resolver did not answer: an outage, not a verdict.
 */
const VERDICT_CODES = new Set(['ENOTFOUND', 'ENODATA', 'NXDOMAIN', 'NODATA']);

export function isDnsVerdict(code: string | undefined): boolean {
  return code !== undefined && VERDICT_CODES.has(code);
}

/** RR types asked over DoH, by their number in a JSON answer. */
export const DNS_TYPES = { A: 1, AAAA: 28, TXT: 16 } as const;
export type DnsType = keyof typeof DNS_TYPES;

/** A DoH JSON answer (RFC 8427 style, as cloudflare-dns.com and dns.google serve it): its records' data, or the code. */
export type DohAnswer = { kind: 'records'; data: string[] } | { kind: 'failed'; code: string };

// RCODEs (RFC 1035 4.1.1) as c-ares reports them. NOERROR without records is ENODATA, below.
const RCODE_CODES: Record<number, string> = { 1: 'EFORMERR', 2: 'ESERVFAIL', 3: 'ENOTFOUND', 4: 'ENOTIMP', 5: 'EREFUSED' };

/**
 * What a DoH service's reply says: `httpStatus` and the parsed JSON `body` (undefined when it was not JSON). Only a 2xx
 * JSON answer with a numeric Status is an answer at all; anything else is EBADRESP, the resolver failing us.
 */
export function readDohAnswer(httpStatus: number, body: unknown, type: DnsType): DohAnswer {
  if (httpStatus < 200 || httpStatus > 299) return { kind: 'failed', code: 'EBADRESP' };
  if (typeof body !== 'object' || body === null) return { kind: 'failed', code: 'EBADRESP' };
  const { Status: status, Answer: answer } = body as { Status?: unknown; Answer?: unknown };
  if (typeof status !== 'number' || !Number.isInteger(status)) return { kind: 'failed', code: 'EBADRESP' };
  if (status !== 0) return { kind: 'failed', code: RCODE_CODES[status] ?? 'EBADRESP' };
  if (answer !== undefined && !Array.isArray(answer)) return { kind: 'failed', code: 'EBADRESP' };
  // The answer section also holds the CNAME chain followed to the records: only the type asked counts.
  const data: string[] = [];
  for (const rr of (answer ?? []) as unknown[]) {
    const { type: t, data: d } = (typeof rr === 'object' && rr !== null ? rr : {}) as { type?: unknown; data?: unknown };
    if (t === DNS_TYPES[type] && typeof d === 'string') data.push(d);
  }
  return data.length > 0 ? { kind: 'records', data } : { kind: 'failed', code: 'ENODATA' };
}

/**
 * A TXT record's character-strings from its presentation form in a DoH answer (`"did=did:plc:..."`, several quoted
 * strings for a long record, `\"`, `\\` and `\DDD` escapes), as node:dns's resolveTxt returns them: one chunk each.
 * An unquoted value (some services send the text bare) is one chunk as it stands.
 */
export function txtChunks(data: string): string[] {
  if (!data.startsWith('"')) return [data];
  const chunks: string[] = [];
  let i = 0;
  while (i < data.length) {
    if (data[i] === ' ') { i++; continue; }
    if (data[i] !== '"') break;
    const bytes: number[] = [];
    i++;
    while (i < data.length && data[i] !== '"') {
      if (data[i] === '\\' && /^\d{3}$/.test(data.slice(i + 1, i + 4))) {
        bytes.push(Number(data.slice(i + 1, i + 4)) & 0xff);
        i += 4;
        continue;
      }
      if (data[i] === '\\' && i + 1 < data.length) i++;
      const ch = String.fromCodePoint(data.codePointAt(i)!);
      bytes.push(...new TextEncoder().encode(ch));
      i += ch.length;
    }
    i++; // the closing quote
    chunks.push(new TextDecoder().decode(new Uint8Array(bytes)));
  }
  return chunks;
}
