// The Fetch port for URLs that come from the network (PDS endpoints from DID documents, did:web documents, handles'
// /.well-known/atproto-did), under Node. Promises:
// - https only, and never an internal address (address-policy.ts), unless the deployment allows private networks;
// - the address checked is the address connected to: the name is resolved inside the socket's own `lookup`, every
//   answer is judged there, and only checked answers are handed to the connection, so a name that answers public at
//   one lookup and private at the next (DNS rebinding) cannot reach the private one; a literal IP in the URL is
//   judged before any socket is made (Node does not call `lookup` for literals);
// - redirects are never followed (a 3xx could lead around every rule above): refused with `forbidden_address`, or,
//   when the caller asked `redirect: 'manual'`, handed back as the 3xx it is, for the caller to judge its Location
//   (the identity fetches follow a few hops, each through this guard: adapters/identity/follow-redirects.ts);
// - the answer is a Web Response whose body streams as it arrives; the caller's AbortSignal ends the request and
//   the body; a connection silent for `idleTimeoutMs` is ended too;
// - DNS that is down (EAI_AGAIN and the like) is an outage, `DependencyError('dns')`; every other failure to reach
//   the host (a name that does not exist, a refused or reset connection) rejects as Web fetch does, a TypeError
//   whose cause carries the code, or the signal's reason when the caller aborted, and the caller judges it as its
//   own verdict (getRepo: `fetch_failed`; did:web: `identity_failed`).
// Sockets are pooled per guard (its own agents), never shared with code that resolves names without these checks.
// On Workers the platform's fetch cannot reach private addresses and no DNS is ours: guarded-fetch-web.ts.
import http from 'node:http';
import https from 'node:https';
import type { LookupAddress } from 'node:dns';
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import zlib from 'node:zlib';
import type { Readable } from 'node:stream';
import type { Fetch } from '../../functions/ports.ts';
import { DependencyError, RedirectRefusedError, SkytideError } from '../../functions/errors.ts';
import { dnsFailureKind } from '../../functions/network-failure.ts';
import { judgeAddress } from './address-policy.ts';

/** Resolves a name to every address it has (like `dns.lookup(name, { all: true })`); injectable for tests. */
export type ResolveAll = (hostname: string) => Promise<readonly LookupAddress[]>;

export interface GuardedFetchOptions {
  /** Let URLs use http and loopback or private addresses (IDENTITY_ALLOW_PRIVATE: local dev networks only). */
  allowPrivate: boolean;
  resolve?: ResolveAll;
  idleTimeoutMs?: number;
}

/** A connection that sends and receives nothing for this long is ended (callers add their own deadlines). */
export const GUARDED_FETCH_IDLE_TIMEOUT_MS = 30_000;
/** Idle pooled connections are closed after this long. */
const KEEP_ALIVE_IDLE_MS = 5_000;

const defaultResolve: ResolveAll = (hostname) => dnsLookup(hostname, { all: true, order: 'verbatim' });

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function forbidden(message: string, context: Record<string, unknown>): SkytideError {
  return new SkytideError('forbidden_address', message, context);
}

/** Resolves, judges every answer, and hands back only answers that were judged (all of them, or none). */
async function checkedAnswers(resolve: ResolveAll, hostname: string, allowPrivate: boolean): Promise<LookupAddress[]> {
  let answers: readonly LookupAddress[];
  try {
    answers = await resolve(hostname);
  } catch (err) {
    const code = codeOf(err);
    // Which resolver codes mean an outage is decided in one place, functions/network-failure.ts.
    if (code !== undefined && dnsFailureKind(code) === 'dns_outage') {
      throw new DependencyError('dns', `DNS unavailable resolving ${hostname}`, { host: hostname, code }, { cause: err });
    }
    throw err;
  }
  if (answers.length === 0) throw Object.assign(new Error(`${hostname} has no addresses`), { code: 'ENOTFOUND' });
  const checked: LookupAddress[] = [];
  for (const { address, family } of answers) {
    if (!allowPrivate) {
      // One internal answer refuses the name: a host that also points inside is not a public service.
      const verdict = judgeAddress(address);
      if (!verdict.public) throw forbidden(`refusing ${hostname}: it resolves to the internal address ${address} (${verdict.range})`, { host: hostname, address });
    }
    checked.push({ address, family });
  }
  return checked;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** The socket's `lookup`: Node calls it once per connection and connects only to what it hands back. */
function pinnedLookup(resolve: ResolveAll, allowPrivate: boolean) {
  return (hostname: string, options: { family?: number | string; all?: boolean }, callback: LookupCallback): void => {
    checkedAnswers(resolve, hostname, allowPrivate).then(
      (answers) => {
        const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : Number(options.family ?? 0);
        const usable = family === 4 || family === 6 ? answers.filter((a) => a.family === family) : answers;
        if (usable.length === 0) {
          callback(Object.assign(new Error(`${hostname} has no IPv${family} address`), { code: 'ENOTFOUND' }), []);
        } else if (options.all === true) callback(null, usable);
        else callback(null, usable[0]!.address, usable[0]!.family);
      },
      (err: unknown) => callback(err as NodeJS.ErrnoException, []),
    );
  };
}

interface OutgoingRequest {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body: Uint8Array | undefined;
  signal: AbortSignal | undefined;
  redirect: RequestRedirect;
}

async function normalize(input: string | URL | Request, init: RequestInit | undefined): Promise<OutgoingRequest> {
  const request = input instanceof Request ? input : undefined;
  const url = new URL(request?.url ?? String(input));
  const method = (init?.method ?? request?.method ?? 'GET').toUpperCase();
  const headers: Record<string, string> = {};
  new Headers(init?.headers ?? request?.headers).forEach((value, name) => (headers[name] = value));
  let body: Uint8Array | undefined;
  const rawBody = init?.body ?? (request?.body == null ? undefined : await request.arrayBuffer());
  if (rawBody != null) body = new Uint8Array(await new Response(rawBody).arrayBuffer());
  return { url, method, headers, body, signal: init?.signal ?? request?.signal ?? undefined, redirect: init?.redirect ?? request?.redirect ?? 'follow' };
}

/** Decodes what Web fetch decodes; the guard never asks for compression, but a server may send it anyway. */
function decoded(res: http.IncomingMessage): Readable {
  const encoding = String(res.headers['content-encoding'] ?? '').trim().toLowerCase();
  const decoder = encoding === 'gzip' || encoding === 'x-gzip' ? zlib.createGunzip() : encoding === 'deflate' ? zlib.createInflate() : encoding === 'br' ? zlib.createBrotliDecompress() : undefined;
  if (decoder === undefined) return res;
  res.on('error', (err) => decoder.destroy(err));
  return res.pipe(decoder);
}

function webBody(source: Readable, res: http.IncomingMessage, signal: AbortSignal | undefined): ReadableStream<Uint8Array> {
  const iterator = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const onAbort = () => {
    res.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    source.destroy();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  const done = () => signal?.removeEventListener('abort', onAbort);
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await iterator.next();
        if (next.done === true) {
          done();
          controller.close();
        } else controller.enqueue(next.value);
      } catch (err) {
        done();
        controller.error(err);
      }
    },
    cancel() {
      done();
      res.destroy();
      source.destroy();
    },
  });
}

function toResponse(res: http.IncomingMessage, method: string, signal: AbortSignal | undefined): Response {
  const status = res.statusCode ?? 0;
  const headers = new Headers();
  for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) headers.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
  const noBody = method === 'HEAD' || status === 204 || status === 205 || status === 304;
  if (noBody) res.resume();
  return new Response(noBody ? null : webBody(decoded(res), res, signal), { status, statusText: res.statusMessage ?? '', headers });
}

export function createGuardedFetch(options: GuardedFetchOptions): Fetch {
  const resolve = options.resolve ?? defaultResolve;
  const idleTimeoutMs = options.idleTimeoutMs ?? GUARDED_FETCH_IDLE_TIMEOUT_MS;
  const lookup = pinnedLookup(resolve, options.allowPrivate);
  const agents = {
    'https:': new https.Agent({ keepAlive: true, timeout: KEEP_ALIVE_IDLE_MS }),
    'http:': new http.Agent({ keepAlive: true, timeout: KEEP_ALIVE_IDLE_MS }),
  };

  return async (input, init) => {
    const out = await normalize(input, init);
    const { url } = out;
    if (url.protocol !== 'https:' && !(options.allowPrivate && url.protocol === 'http:')) {
      throw forbidden(`refusing a non-https URL from the network: ${url.origin}`, { url: url.origin });
    }
    const host = url.hostname.replace(/^\[|\]$/g, '');
    // Node connects to a literal without calling `lookup`, so a literal is judged here, before any socket exists.
    if (isIP(host) !== 0 && !options.allowPrivate) {
      const verdict = judgeAddress(host);
      if (!verdict.public) throw forbidden(`refusing ${url.origin}: ${host} is an internal address (${verdict.range})`, { host });
    }
    out.signal?.throwIfAborted();
    const client = url.protocol === 'https:' ? https : http;
    return new Promise<Response>((resolvePromise, reject) => {
      const req = client.request({
        protocol: url.protocol,
        host,
        port: url.port === '' ? undefined : Number(url.port),
        path: `${url.pathname}${url.search}`,
        method: out.method,
        headers: { 'user-agent': 'skytide', ...out.headers, ...(out.body === undefined ? {} : { 'content-length': String(out.body.length) }) },
        agent: agents[url.protocol as 'https:' | 'http:'],
        lookup,
        ...(out.signal === undefined ? {} : { signal: out.signal }),
      });
      req.setTimeout(idleTimeoutMs, () => req.destroy(Object.assign(new Error(`${url.origin} sent nothing for ${idleTimeoutMs} ms`), { code: 'ETIMEDOUT' })));
      req.on('error', (err) => {
        if (err instanceof SkytideError) reject(err);
        else if (out.signal?.aborted === true) reject(out.signal.reason);
        else reject(new TypeError(`fetch failed: ${err.message}`, { cause: err }));
      });
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 300 && status < 400 && status !== 304 && out.redirect !== 'manual') {
          res.destroy();
          reject(new RedirectRefusedError(url.origin, status));
          return;
        }
        try {
          resolvePromise(toResponse(res, out.method, out.signal));
        } catch (err) {
          res.destroy();
          reject(new TypeError(`fetch failed: unusable answer from ${url.origin} (HTTP ${status})`, { cause: err }));
        }
      });
      req.end(out.body);
    });
  };
}
