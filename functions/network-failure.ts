// The one place that reads a failed request's error and says what kind of failure it was. Callers decide what the
// kind means for them (an outage of ours, a verdict on a host from the network), but nobody else looks at error codes,
// syscalls or messages. Pure: it reads the fields Node, undici and c-ares put on errors (`code`, `syscall`, `name`),
// and the messages of workerd's, which carry nothing else, walking the cause chain and AggregateError's `errors`
// (happy eyeballs tries several addresses).

export type NetworkFailure =
  /** The DNS resolver is down, timed out or refused us: nobody's name resolves, so it is an outage, not an answer. */
  | { kind: 'dns_outage'; code: string }
  /**
   * DNS answered: the name does not exist, has no address, or its own servers fail it (EAI_FAIL). A verdict on
   * whoever gave us the name.
   */
  | { kind: 'no_such_host'; code: string }
  /** The host refused, reset or dropped the connection, or no route reaches it. */
  | { kind: 'unreachable'; code: string }
  /** Our own deadline passed (an AbortSignal's timeout) or the exchange was aborted. */
  | { kind: 'timeout' }
  /** Not a network failure we recognise (a bug, a refused TLS certificate...). */
  | { kind: 'unknown' };

/**
 * Resolver codes (getaddrinfo's EAI_*, c-ares's) that mean "the resolver is down, timed out or refused us", or this
 * machine cannot resolve at all (EAI_MEMORY, EAI_SYSTEM): try again later, not "no such name".
 * NOTE: EAI_FAIL is an answer: it is usually one domain's broken servers, and waiting it out would stall others.
 */
const DNS_OUTAGE_CODES = new Set(['EAI_AGAIN', 'EAI_MEMORY', 'EAI_SYSTEM', 'ESERVFAIL', 'ETIMEOUT', 'ECONNREFUSED', 'EREFUSED', 'EBADRESP', 'ECANCELLED', 'EDESTRUCTION', 'ENOMEM']);
/** Codes only a resolver gives (ECONNREFUSED is also a refused connect, so it needs a DNS syscall to count). */
const DNS_ONLY_CODES = new Set(['ENOTFOUND', 'ENODATA', 'ESERVFAIL', 'ETIMEOUT', 'EREFUSED', 'EBADRESP', 'ENONAME', 'EBADNAME', 'EFORMERR', 'ENOTIMP', 'ECANCELLED', 'EDESTRUCTION']);

/** What a failed name resolution means, for an error known to come from resolving a name. */
export function dnsFailureKind(code: string): 'dns_outage' | 'no_such_host' {
  return DNS_OUTAGE_CODES.has(code) ? 'dns_outage' : 'no_such_host';
}
/** Connection-level failures of a host (Node errno codes on connect, read and write; undici's own codes). */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH', 'ENETDOWN',
  'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED',
]);

/**
 * What workerd (Workers) throws where Node gives an errno code: its fetch and its connect() sockets fail with a bare
 * Error and no code, e.g. "Network connection lost." for a refused, reset or dropped connection and "connection
 * attempt failed" for a connect() that did not open. Read by message, the only thing they carry.
 */
const WORKERD_CONNECTION_FAILURES = new Set(['Network connection lost.', 'connection attempt failed', 'Stream was cancelled.']);

/** A connection failure as workerd reports it: a plain Error (no subclass, no code) with one of its messages. */
export function isWorkerdConnectionFailure(err: unknown): boolean {
  return err instanceof Error && Object.getPrototypeOf(err) === Error.prototype && !('code' in err) && WORKERD_CONNECTION_FAILURES.has(err.message);
}

function isDnsSyscall(syscall: string): boolean {
  return syscall === 'getaddrinfo' || syscall === 'getnameinfo' || syscall.startsWith('query') || syscall === 'getHostByAddr';
}

/** Every error reachable from `err` through `cause` and AggregateError `errors`, nearest first, bounded. */
function errorsIn(err: unknown): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const queue: unknown[] = [err];
  while (queue.length > 0 && out.length < 16) {
    const e = queue.shift();
    if (typeof e !== 'object' || e === null) continue;
    const fields = e as Record<string, unknown>;
    out.push(fields);
    if (fields['cause'] !== undefined) queue.push(fields['cause']);
    if (Array.isArray(fields['errors'])) queue.push(...(fields['errors'] as unknown[]));
  }
  return out;
}

export function classifyNetworkFailure(err: unknown): NetworkFailure {
  const chain = errorsIn(err);
  // DNS first: a name that does not resolve is reported with codes (ECONNREFUSED) that also mean a refused connect.
  for (const e of chain) {
    const code = typeof e['code'] === 'string' ? e['code'] : '';
    const syscall = typeof e['syscall'] === 'string' ? e['syscall'] : '';
    if (code === '' || !(isDnsSyscall(syscall) || code.startsWith('EAI_') || DNS_ONLY_CODES.has(code))) continue;
    return { kind: dnsFailureKind(code), code };
  }
  for (const e of chain) {
    const code = typeof e['code'] === 'string' ? e['code'] : '';
    if (UNREACHABLE_CODES.has(code)) return { kind: 'unreachable', code };
    if (isWorkerdConnectionFailure(e)) return { kind: 'unreachable', code: String(e['message']) };
  }
  for (const e of chain) {
    if (e['name'] === 'TimeoutError' || e['name'] === 'AbortError') return { kind: 'timeout' };
  }
  return { kind: 'unknown' };
}
