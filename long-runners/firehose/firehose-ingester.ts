// The firehose adapter: com.atproto.sync.subscribeRepos of one host into firehose_live.
// Promises: events land in seq order; the cursor `firehose_live:cursor:<host>` is the body seq of the last frame whose
// events are in the stream, written in the same MULTI as those events; a restart resumes from it (or from
// FIREHOSE_INITIAL_CURSOR, or live); above the high-water mark it stops reading the socket, never drops; a frame it
// cannot use is counted and logged, never fatal. Repos it cannot keep right from the stream go to repo_backfill.
// It ends only when its signal aborts (after flushing) or when Redis refuses a write (thrown to the supervisor).
import type { Redis } from 'ioredis';
import type { Log, Metrics } from '../../functions/ports.ts';
import type { Reason } from '../../functions/reasons.ts';
import type { ResyncRequest } from '../../functions/result.ts';
import type { StreamEvent } from '../../functions/events.ts';
import { decodeRepoFrame } from '../../functions/atproto/repo-frame.ts';
import type { IdentityResolver } from '../../functions/atproto/identity/did-document.ts';
import { tidMicros } from '../../functions/atproto/syntax/tid-time.ts';
import type { RepoStateStore } from '../../adapters/redis/repo-state.ts';
import { MAX_FRAME_BYTES } from '../../functions/atproto/limits.ts';
import { describeError } from '../../functions/errors.ts';
import { hostKey, STREAMS, type KeySpace } from '../../adapters/redis/keys.ts';
import { appendBatch, type StreamEntry } from '../../adapters/redis/stream-writer.ts';
import { readSeqCursor } from '../../adapters/redis/cursor-store.ts';
import { createBackoff } from '../backoff.ts';
import { sleep } from '../sleep.ts';
import { openFrameSource, type FrameSource } from './ws-source.ts';
import { subscribeUrl } from './subscribe-url.ts';

export interface FirehoseIngesterOptions {
  redis: Redis;
  keys: KeySpace;
  host: string;
  highWaterMark: number;
  batchSize: number;
  batchTimeoutMs: number;
  initialCursor?: number;
  log: Log;
  metrics: Metrics;
  signal: AbortSignal;
  /** How often, at most, XLEN is checked for backpressure. */
  lengthCheckIntervalMs?: number;
  backoff?: ReconnectBackoff;
  heartbeatMs?: number;
  /**
   * Signing keys for the sync 1.1 checks of every #commit. Absent only when the deployment trusts a verifying
   * upstream (INGESTER_TRUST_UPSTREAM): each unverified commit is then counted.
   */
  identity?: IdentityResolver;
  /** Last rev and MST root per repo, for the continuity checks; absent: no continuity checks. */
  repoState?: RepoStateStore;
  /** How far in the future a commit's rev may be (clock drift), in ms. */
  maxRevDriftMs?: number;
}

const NSID = 'com.atproto.sync.subscribeRepos';

/** Reconnect delays; a connection that lived `healthyAfterMs` starts them over from `baseMs`. */
export interface ReconnectBackoff {
  baseMs: number;
  maxMs: number;
  healthyAfterMs: number;
}

export const DEFAULT_RECONNECT: ReconnectBackoff = { baseMs: 500, maxMs: 60_000, healthyAfterMs: 30_000 };
const MAX_QUEUED_FRAMES = 1000;
const MAX_QUEUED_BYTES = 16 * 1024 * 1024;

/** Log the 1st, 10th, 100th... occurrence of each reason: count first, log second. */
function shouldLog(counts: Map<string, number>, key: string): boolean {
  const n = (counts.get(key) ?? 0) + 1;
  counts.set(key, n);
  return Number.isInteger(Math.log10(n));
}

export async function runFirehoseIngester(options: FirehoseIngesterOptions): Promise<void> {
  const { redis, keys, host, log, metrics, signal } = options;
  const hostLabel = hostKey(host);
  const streamKey = keys.stream(STREAMS.firehoseLive);
  const backfillKey = keys.stream(STREAMS.repoBackfill);
  const cursorKey = keys.cursor(STREAMS.firehoseLive, host);
  const lengthEveryMs = options.lengthCheckIntervalMs ?? 1000;
  const reconnect = options.backoff ?? DEFAULT_RECONNECT;
  const backoff = createBackoff(reconnect);
  const logCounts = new Map<string, number>();
  let override: number | undefined;

  const countError = (reason: Reason, n = 1, fields: Record<string, unknown> = {}) => {
    metrics.inc('skytide_firehose_errors_total', { host: hostLabel, reason }, n);
    if (shouldLog(logCounts, reason)) log.warn('firehose frame problem', { host, reason, occurrences: logCounts.get(reason), ...fields });
  };

  // The batch being built: entries for the streams and the seq the cursor moves to when they are written.
  let entries: StreamEntry[] = [];
  let stateWrites: { key: string; value: string; ttlMs: number }[] = [];
  let eventCount = 0;
  let batchSeq: number | undefined;
  let batchStartedAt = 0;
  let lastLengthCheck = 0;

  const flush = async () => {
    if (entries.length === 0 && batchSeq === undefined) return;
    await appendBatch(redis, { entries, sets: stateWrites, ...(batchSeq === undefined ? {} : { cursor: { key: cursorKey, value: String(batchSeq) } }) });
    entries = [];
    stateWrites = [];
    eventCount = 0;
    batchSeq = undefined;
  };

  /** Holds the socket while the stream is at or above the high-water mark; returns once it is below. */
  const respectHighWaterMark = async (source: FrameSource, force: boolean) => {
    const now = Date.now();
    if (!force && now - lastLengthCheck < lengthEveryMs) return;
    lastLengthCheck = now;
    let length = await redis.xlen(streamKey);
    if (length < options.highWaterMark) return;
    source.hold('backpressure');
    log.warn('firehose paused: stream above high-water mark', { host, length, highWaterMark: options.highWaterMark });
    while (length >= options.highWaterMark && !signal.aborted) {
      await sleep(lengthEveryMs, signal);
      length = await redis.xlen(streamKey);
    }
    source.release('backpressure');
    log.info('firehose resumed', { host, length });
  };

  const addEvents = (events: StreamEvent[], resync: ResyncRequest[]) => {
    for (const event of events) {
      entries.push({ stream: streamKey, fields: { event: JSON.stringify(event) } });
      metrics.inc('skytide_firehose_events_total', { host: hostLabel, type: event.type });
    }
    for (const r of resync) {
      entries.push({ stream: backfillKey, fields: { repo: JSON.stringify({ did: r.did, host, reason: r.reason }) } });
      metrics.inc('skytide_resync_requests_total', { reason: r.reason });
    }
    eventCount += events.length + resync.length;
  };

  const maxDriftMs = options.maxRevDriftMs ?? 5 * 60_000;
  /**
   * Sync 1.1 continuity (sync spec): a rev from the future beyond the drift is rejected; a rev not after the last one
   * seen is a replay and dropped; a prevData that is not the last root seen means commits were missed, so the repo is
   * resynced (its verified events still go through: the rev rule keeps the index right meanwhile).
   */
  const checkContinuity = async (did: string, state: { rev: string; data?: string; prevData?: string | null }, resync: ResyncRequest[]): Promise<boolean> => {
    if (tidMicros(state.rev) / 1000 > Date.now() + maxDriftMs) {
      countError('future_rev', 1, { did, rev: state.rev });
      return false;
    }
    if (options.repoState === undefined) return true;
    const last = await options.repoState.get(did);
    if (last !== undefined && state.rev <= last.rev) {
      countError('stale_rev', 1, { did, rev: state.rev, last: last.rev });
      return false;
    }
    if (last?.data !== undefined && state.prevData !== undefined && state.prevData !== null && state.prevData !== last.data) {
      countError('prev_data_mismatch', 1, { did, rev: state.rev });
      if (!resync.some((r) => r.reason === 'prev_data_mismatch')) resync.push({ did, reason: 'prev_data_mismatch' });
    }
    stateWrites.push(options.repoState.stage(did, state.data === undefined ? { rev: state.rev } : { rev: state.rev, data: state.data }));
    return true;
  };

  /**
   * A #sync states where the repo is now. When that is where we already are, there is nothing to fetch; otherwise
   * the resync stands and the chain restarts from the stated rev and root.
   */
  const checkSync = async (did: string, state: { rev: string; data?: string }, resync: ResyncRequest[]): Promise<void> => {
    if (options.repoState === undefined) return;
    const last = await options.repoState.get(did);
    if (last !== undefined && last.rev === state.rev && last.data !== undefined && last.data === state.data) {
      resync.splice(0, resync.length);
      return;
    }
    stateWrites.push(options.repoState.stage(did, state.data === undefined ? { rev: state.rev } : { rev: state.rev, data: state.data }));
  };

  /** Handles one frame; returns 'reconnect' when upstream sent an error frame (it closes after one). */
  const handle = async (bytes: Uint8Array): Promise<'ok' | { reconnect: string; cursor?: number }> => {
    const out = await decodeRepoFrame(bytes, options.identity === undefined ? {} : { identity: options.identity });
    if (options.identity === undefined && out.kind === 'sequenced' && out.t === '#commit') {
      metrics.inc('skytide_firehose_unverified_commits_total', { host: hostLabel });
    }
    metrics.inc('skytide_firehose_frames_total', { host: hostLabel, kind: out.kind });
    switch (out.kind) {
      case 'sequenced': {
        for (const d of out.dropped) countError(d.reason, d.count, { did: out.did, seq: out.seq });
        const kept = out.t === '#commit' && out.state !== undefined ? await checkContinuity(out.did, out.state, out.resync) : true;
        if (out.t === '#sync' && out.state !== undefined) await checkSync(out.did, out.state, out.resync);
        addEvents(kept ? out.events : [], out.resync);
        batchSeq = out.seq;
        return 'ok';
      }
      case 'info':
        if (out.name === 'OutdatedCursor') {
          countError('outdated_cursor', 1, { message: out.message });
          log.warn('cursor older than upstream window: events were missed, repos may need a sweep', { host, message: out.message });
        } else {
          log.info('firehose info message', { host, name: out.name, message: out.message });
        }
        return 'ok';
      case 'error':
        if (out.error === 'FutureCursor') {
          // Our cursor is ahead of upstream's sequence (it was reset, or this is another relay): asking again with
          // the same cursor would loop forever, so start over from the oldest event upstream still holds. Replays
          // are idempotent under the rev rule.
          countError('future_cursor', 1, { message: out.message });
          log.error('upstream rejected our cursor as in the future; replaying its retained window', { host, message: out.message });
          return { reconnect: 'FutureCursor', cursor: 0 };
        }
        countError(out.error === 'ConsumerTooSlow' ? 'consumer_too_slow' : 'error_frame', 1, { error: out.error, message: out.message });
        return { reconnect: out.error };
      case 'ignored':
        countError(out.reason, 1, { t: out.t });
        if (out.seq !== undefined) batchSeq = out.seq;
        return 'ok';
      case 'invalid':
        countError(out.reason, 1, { message: out.message, seq: out.seq, did: out.did });
        // A commit we could not read still happened: its repo is fetched whole instead.
        if (out.did !== undefined) addEvents([], [{ did: out.did, reason: out.reason }]);
        if (out.seq !== undefined) batchSeq = out.seq;
        return 'ok';
    }
  };

  while (!signal.aborted) {
    const stored = await readSeqCursor(redis, cursorKey);
    const cursor = override ?? stored ?? options.initialCursor;
    override = undefined;
    const url = subscribeUrl(host, NSID, cursor);
    const source = openFrameSource(url, {
      maxQueuedFrames: MAX_QUEUED_FRAMES,
      maxQueuedBytes: MAX_QUEUED_BYTES,
      heartbeatMs: options.heartbeatMs ?? 10_000,
      maxPayloadBytes: MAX_FRAME_BYTES + 64 * 1024,
    });
    const connectedAt = Date.now();
    let why = 'closed';
    const onAbort = () => source.close();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await source.opened;
      log.info('firehose connected', { host, cursor: cursor ?? 'live' });
      batchStartedAt = Date.now();
      for (;;) {
        const wait = Math.max(1, options.batchTimeoutMs - (Date.now() - batchStartedAt));
        const next = await source.next(wait);
        if (next.kind === 'closed') {
          why = next.reason;
          break;
        }
        if (next.kind === 'frame') {
          const result = await handle(next.bytes);
          if (result !== 'ok') {
            why = `error frame ${result.reconnect}`;
            if (result.cursor !== undefined) override = result.cursor;
            source.close();
          }
        }
        const due = Date.now() - batchStartedAt >= options.batchTimeoutMs;
        if (eventCount >= options.batchSize || (due && (entries.length > 0 || batchSeq !== undefined))) {
          await flush();
          await respectHighWaterMark(source, true);
          batchStartedAt = Date.now();
        } else if (due) {
          batchStartedAt = Date.now();
          await respectHighWaterMark(source, false);
        }
      }
    } catch (err) {
      why = describeError(err);
      if (err instanceof Error && err.name === 'StreamWriteError') throw err;
      if (err instanceof Error && err.name === 'InvariantError') throw err;
    } finally {
      signal.removeEventListener('abort', onAbort);
      source.close();
    }
    // Every frame read from this connection is written before reconnecting or stopping.
    await flush();
    if (signal.aborted) break;
    if (Date.now() - connectedAt >= reconnect.healthyAfterMs) backoff.reset();
    const delay = backoff.next();
    log.warn('firehose disconnected', { host, reason: why, reconnectInMs: delay });
    await sleep(delay, signal);
  }
  log.info('firehose stopped', { host });
}
