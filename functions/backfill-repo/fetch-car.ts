// com.atproto.sync.getRepo from the account's PDS, streamed into the CAR reader: the body is never buffered whole here
// (readRepoCar caps it while reading), the whole exchange has a deadline, and every way it can fail is judged here,
// once (the network failure's kind comes from functions/network-failure.ts):
// - "this repo is not there" answers (RepoNotFound, RepoTakendown, ...) are results, not failures;
// - a DNS resolver that is down is an outage of ours (DependencyError 'dns'): waited out, never held against the repo;
// - everything else is the repo's host failing (`fetch_failed`), which the caller retries on a later delivery. A PDS
//   is the account's host, not our dependency: one that stays down for good ends the entry in the DLQ.
// Failures that a PDS restart explains (refused or dropped connections, 5xx, 429) are tried again within the same
// delivery, spaced out over about half a minute, so a restart costs the entry none of its attempts. A 429 or 503's
// Retry-After is honoured between those tries; one longer than a delivery waits ends them at once (downloadRepo).
import pRetry from 'p-retry';
import type { Fetch } from '../ports.ts';
import { DependencyError, RedirectRefusedError, SkytideError, dependencyErrorIn } from '../errors.ts';
import { classifyNetworkFailure } from '../network-failure.ts';
import { readBodyPrefix } from '../body-prefix.ts';
import { retryAfterMs } from '../retry-after.ts';
import { readRepoCar, type RepoCar, type RepoLimits } from '../atproto/repo/read-car.ts';

/** The most of a getRepo error body read (the rest is never read): XRPC error bodies are a few hundred bytes. */
export const ERROR_BODY_MAX_BYTES = 8 * 1024;

/** Answers that will not change by asking again: the account's status is updated instead of retrying. */
export const PERMANENT_REPO_ERRORS = ['RepoNotFound', 'RepoTakendown', 'RepoSuspended', 'RepoDeactivated'] as const;
export type PermanentRepoError = (typeof PERMANENT_REPO_ERRORS)[number];

export type CarFetch = { kind: 'car'; body: AsyncIterable<Uint8Array> } | { kind: 'unavailable'; error: PermanentRepoError };
export type RepoDownload = { kind: 'car'; car: RepoCar } | { kind: 'unavailable'; error: PermanentRepoError };

/** How getRepo is tried again within one delivery (exponential, each delay up to twice as long, jittered). */
export interface PdsRetry {
  retries: number;
  minDelayMs: number;
  maxDelayMs: number;
}

/**
 * Delays of 1, 2, 4, 8 and 15 s (each up to twice that, capped at 15 s): 30 to 45 s of a PDS refusing or failing
 * before the delivery ends in `retry`. The backfill deadline (BACKFILLER_TIMEOUT_MS) bounds the whole download.
 */
export const DEFAULT_PDS_RETRY: PdsRetry = { retries: 5, minDelayMs: 1000, maxDelayMs: 15_000 };

/** The PDS failed to serve the repo. `soon`: what a restarting or overloaded PDS does, worth another try right away. */
export class RepoFetchError extends SkytideError {
  readonly soon: boolean;
  /** The PDS answered 429: it asks us to slow down, which says nothing about the repo (the caller waits). */
  readonly rateLimited: boolean;
  /** The Retry-After of a 429 or 503, uncapped: how long the PDS asks us to wait before the next try. */
  readonly retryAfterMs: number | undefined;

  constructor(message: string, context: Record<string, unknown>, soon: boolean, options?: { cause?: unknown; rateLimited?: boolean; retryAfterMs?: number }) {
    super('fetch_failed', message, context, options);
    this.name = 'RepoFetchError';
    this.soon = soon;
    this.rateLimited = options?.rateLimited === true;
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/** The nearest SkytideError in the cause chain: a port may have judged the failure already (forbidden_address). */
function judgedIn(err: unknown): SkytideError | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof SkytideError) return e;
  }
  return undefined;
}

/** Judges anything thrown while talking to a PDS. Errors already judged (by a port, or by us) pass unchanged. */
export function judgeFetchFailure(err: unknown, did: string, pds: string): SkytideError {
  const context = { did, pds };
  const judged = dependencyErrorIn(err) ?? judgedIn(err);
  // Not followed (every hop would need judging), but no verdict on the repo either, nor an internal address: the PDS's
  // failure, retried as a 503 is. As forbidden_address it sent every repo of a PDS that redirected once to the DLQ.
  if (judged instanceof RedirectRefusedError) return new RepoFetchError(`the PDS of ${did} answered getRepo with a redirect (HTTP ${judged.status}), which is not followed`, { ...context, status: judged.status }, false, { cause: err });
  if (judged !== undefined) return judged;
  const failure = classifyNetworkFailure(err);
  switch (failure.kind) {
    case 'dns_outage':
      return new DependencyError('dns', `DNS unavailable resolving the PDS of ${did} (${failure.code})`, { ...context, code: failure.code }, { cause: err });
    case 'no_such_host':
      // An answer, not an outage: the document names a host that does not exist (the account may have moved).
      return new RepoFetchError(`the PDS host of ${did} does not resolve (${failure.code})`, context, false, { cause: err });
    case 'unreachable':
      return new RepoFetchError(`the PDS of ${did} is unreachable (${failure.code})`, context, true, { cause: err });
    case 'timeout':
      return new RepoFetchError(`getRepo for ${did} did not finish before its deadline`, context, false, { cause: err });
    case 'unknown':
      return new RepoFetchError(`getRepo for ${did} failed`, context, false, { cause: err });
  }
}

/**
 * The body as it arrives, with a dropped connection or a deadline judged here rather than taken for a bad CAR, and
 * `onBytes` told the bytes received so far after each chunk.
 */
async function* judgedBody(body: AsyncIterable<Uint8Array>, did: string, pds: string, onBytes?: (bytes: number) => void): AsyncGenerator<Uint8Array> {
  let bytes = 0;
  try {
    for await (const chunk of body) {
      bytes += chunk.byteLength;
      onBytes?.(bytes);
      yield chunk;
    }
  } catch (err) {
    throw judgeFetchFailure(err, did, pds);
  }
}

export async function fetchRepoCar(fetch: Fetch, pds: string, did: string, signal: AbortSignal, onBytes?: (bytes: number) => void): Promise<CarFetch> {
  const url = `${pds}/xrpc/com.atproto.sync.getRepo?did=${encodeURIComponent(did)}`;
  let res: Response;
  try {
    res = await fetch(url, { signal, redirect: 'error', headers: { accept: 'application/vnd.ipld.car' } });
  } catch (err) {
    throw judgeFetchFailure(err, did, pds);
  }
  if (res.ok) {
    if (res.body === null) throw new RepoFetchError(`getRepo for ${did} has no body`, { did, pds }, true);
    return { kind: 'car', body: judgedBody(res.body as unknown as AsyncIterable<Uint8Array>, did, pds, onBytes) };
  }
  let error = '';
  try {
    // An XRPC error body is a few hundred bytes; a PDS that sends more is cut there, never read to the deadline.
    const { bytes } = await readBodyPrefix(res, ERROR_BODY_MAX_BYTES);
    error = String((JSON.parse(new TextDecoder().decode(bytes)) as { error?: unknown }).error ?? '');
  } catch {
    // Not an XRPC error body (or one cut at the cap, or a connection dropped mid-body): judged by its status below.
  }
  if ((PERMANENT_REPO_ERRORS as readonly string[]).includes(error)) return { kind: 'unavailable', error: error as PermanentRepoError };
  // A PDS restarting, overloaded or behind a failing proxy: 5xx, 429 (rate limited), 408.
  const soon = res.status >= 500 || res.status === 429 || res.status === 408;
  // The two answers RFC 9110 gives a Retry-After meaning on: "too many requests" and "unavailable for a while".
  const after = res.status === 429 || res.status === 503 ? retryAfterMs(res.headers.get('retry-after'), Date.now()) : undefined;
  throw new RepoFetchError(`getRepo for ${did}: HTTP ${res.status}${error === '' ? '' : ` ${error}`}`, { did, pds, status: res.status }, soon, {
    rateLimited: res.status === 429,
    ...(after === undefined ? {} : { retryAfterMs: after }),
  });
}

/** Resolves after `ms`, or at once when the signal aborts (p-retry then sees the abort and rejects with its reason). */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * getRepo read into a verified-size CAR, tried again within this call while the PDS fails in a way a restart
 * explains. When the deadline passes, the last failure is what the caller sees (a 500 stays a 500, not "aborted"; a
 * 429 stays rate-limited, so the entry waits).
 *
 * A Retry-After (429, 503) spaces the next try by at least what it asks, our own backoff included. A delivery waits
 * at most `retry.maxDelayMs` between two tries (15 s by default; the download deadline bounds the sum): a PDS asking
 * for longer ends this delivery's tries at once rather than hold its consumer idle, and the failure goes to the
 * caller as it is. A 429 then makes the entry `wait` (handler.ts): under Redis it stays pending with this delivery
 * taken back (XCLAIM RETRYCOUNT) and is claimed again once idle for claimIdleMs (2 x BACKFILLER_TIMEOUT_MS, 4 minutes
 * by default); on Workers it is sent again after WORKER_OUTAGE_DELAY_MS, no attempt counted. That is when the PDS is
 * next asked, whatever it asked for: a longer Retry-After (an hour, a date next week) is not slept out to the second
 * but met with another 429 and another wait, which costs nothing, so no cap beyond that is needed. A 503 is a failing
 * host as any 5xx: retried on a later delivery, counted, since a PDS that stays down for good must reach the DLQ.
 */
export interface DownloadOptions {
  signal: AbortSignal;
  limits: RepoLimits;
  retry: PdsRetry;
  /**
   * Told as each try starts (0) and as each chunk of the CAR arrives (the bytes of this try so far): a download that is
   * moving is alive however long it takes (the supervisor's watchdog hears it through the caller).
   */
  onBytes?: (bytes: number) => void;
  /**
   * A try that receives nothing for this long (no answer, or a body that stopped arriving) is cut as stalled
   * (`fetch_failed`, not tried again in this call); absent: only the deadline (`signal`) cuts it. Timed from the call
   * to `fetch`, so that fetch must send at once: a queue of ours (the per-host limit) is waited out before the
   * download starts (HostSlots, handler.ts), never inside it, where its wait would pass for the PDS's silence.
   */
  stallMs?: number;
}

/** One getRepo read into a CAR, cut when nothing arrives for `o.stallMs`. */
async function tryDownload(fetch: Fetch, pds: string, did: string, o: DownloadOptions): Promise<RepoDownload> {
  const stall = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const onBytes = (bytes: number) => {
    if (o.stallMs !== undefined) {
      const stallMs = o.stallMs;
      clearTimeout(timer);
      timer = setTimeout(() => stall.abort(new RepoFetchError(`getRepo for ${did} stalled: nothing received for ${stallMs} ms`, { did, pds, stallMs }, false)), stallMs);
    }
    o.onBytes?.(bytes);
  };
  onBytes(0);
  try {
    const fetched = await fetchRepoCar(fetch, pds, did, AbortSignal.any([o.signal, stall.signal]), onBytes);
    return fetched.kind === 'unavailable' ? fetched : { kind: 'car', car: await readRepoCar(fetched.body, o.limits) };
  } catch (err) {
    // Whatever the abort surfaced as (the fetch's rejection, the body's error), the stall is the cause.
    if (stall.signal.aborted && !o.signal.aborted) throw stall.signal.reason;
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

export async function downloadRepo(fetch: Fetch, pds: string, did: string, o: DownloadOptions): Promise<RepoDownload> {
  let last: unknown;
  try {
    return await pRetry(
      () => tryDownload(fetch, pds, did, o),
      {
        retries: o.retry.retries, minTimeout: o.retry.minDelayMs, maxTimeout: o.retry.maxDelayMs, factor: 2, randomize: true,
        signal: o.signal,
        // Awaited before p-retry's own delay (`retryDelay`): what the PDS asked for beyond it is waited here.
        shouldRetry: async ({ error, retryDelay }) => {
          if (!(error instanceof RepoFetchError) || !error.soon) return false;
          const asked = error.retryAfterMs;
          if (asked === undefined) return true;
          if (asked > o.retry.maxDelayMs) return false;
          await pause(asked - retryDelay, o.signal);
          return true;
        },
        onFailedAttempt: ({ error }) => void (last = error),
      },
    );
  } catch (err) {
    if (err instanceof SkytideError) throw err;
    // The deadline fired between tries (p-retry rejects with the signal's reason).
    if (last instanceof SkytideError && !(last instanceof DependencyError)) {
      const rateLimited = last instanceof RepoFetchError && last.rateLimited;
      throw new RepoFetchError(`getRepo for ${did} did not succeed before its deadline; last failure: ${last.message}`, { did, pds }, false, { cause: last, rateLimited });
    }
    throw judgeFetchFailure(err, did, pds);
  }
}
