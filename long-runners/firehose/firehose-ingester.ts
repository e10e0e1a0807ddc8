// The firehose adapter: com.atproto.sync.subscribeRepos of one host into firehose_live, through the subscription core
// (long-runners/subscription/subscription.ts: cursor, seq order, batching, backpressure, error frames, shutdown) with
// the repo handler (repo-handler.ts: events, resync requests, continuity, identity waits).
// Promises: a DID's events land in seq order (a DID that waits for its identity lands later, its order kept); the
// cursor `firehose_live:cursor:<host>` is the body seq of the last frame whose events are in the stream or parked,
// written in the same MULTI and never moved back (except on FutureCursor, logged and counted); a restart resumes
// from it (or from FIREHOSE_INITIAL_CURSOR, or live); above the high-water mark it stops reading the socket, never
// drops; a frame it cannot use is counted and logged, never fatal. With `lease`, one adapter per relay writes at a time
// (`firehose_live:lease:<host>`; the subscription core waits for it, subscription.ts). Repos it cannot keep right from the stream go to
// repo_backfill. It ends only when its signal aborts (after flushing) or when Redis refuses a write (thrown to the
// supervisor).
import type { IdentityResolver } from '../../functions/atproto/identity/did-document.ts';
import { MAX_FRAME_BYTES } from '../../functions/atproto/limits.ts';
import type { OutageView } from '../../adapters/identity/outage-breaker.ts';
import type { RepoStateStore } from '../../adapters/redis/repo-state.ts';
import { createIdentityWaitStore } from '../../adapters/redis/identity-waits.ts';
import { hostKey, STREAMS } from '../../adapters/redis/keys.ts';
import { runSubscription, type SubscriberOptions } from '../subscription/subscription.ts';
import { createProblemReporter } from '../subscription/problems.ts';
import { createIdentityWaitRoom } from './identity-wait.ts';
import { createRepoHandler } from './repo-handler.ts';
import { keepsDid, type EventFilter } from '../../functions/event-filter.ts';
import { repoBackfillJson } from '../../functions/events.ts';

/** What mends the events an #info OutdatedCursor says were missed: a sweep lists every repo's rev again. */
export const FIREHOSE_GAP_REPAIR = 'a listRepos sweep (SWEEP_CRON, POST /sweep) backfills every repo whose rev moved on meanwhile';
export const SUBSCRIBE_REPOS = 'com.atproto.sync.subscribeRepos';
/** Defaults of INGESTER_IDENTITY_WAIT_MAX_FRAMES and INGESTER_IDENTITY_DID_WAIT_MS (adapters/config/vars.ts). */
export const DEFAULT_MAX_PARKED_FRAMES = 50_000;
export const DEFAULT_DID_WAIT_MS = 3600_000;

export interface FirehoseIngesterOptions extends SubscriberOptions {
  /**
   * Signing keys for the sync 1.1 checks of every #commit. Absent only when the deployment trusts a verifying
   * upstream (INGESTER_TRUST_UPSTREAM): each unverified commit is then counted.
   */
  identity?: IdentityResolver;
  /** The outage breaker inside `identity`, so waiting DIDs are probed at its pace. */
  outages?: OutageView;
  /** Last rev and MST root per repo, for the continuity checks; absent: no continuity checks. */
  repoState?: RepoStateStore;
  /** How far in the future a commit's rev may be (clock drift), in ms. */
  maxRevDriftMs?: number;
  /** Frames parked for identities on this host at which reading holds (INGESTER_IDENTITY_WAIT_MAX_FRAMES). */
  maxParkedFrames?: number;
  /** How long a DID's frames wait for its own did:web host (INGESTER_IDENTITY_DID_WAIT_MS). */
  didWaitMs?: number;
  /** Frames one waiting DID may park before they are given up for a resync (default MAX_PARKED_PER_DID). */
  maxParkedPerDid?: number;
  /** What is kept (INGESTER_COLLECTIONS, INGESTER_DIDS, INGESTER_EXCLUDE_DIDS); absent: everything. */
  filter?: EventFilter;
  /** Largest frame read (INGESTER_MAX_FRAME_BYTES; default MAX_FRAME_BYTES); larger ones are counted as too_big. */
  maxFrameBytes?: number;
  /** Delays between lookups of one waiting DID (default WAIT_RETRY). */
  waitRetry?: { baseMs: number; maxMs: number };
}

export async function runFirehoseIngester(options: FirehoseIngesterOptions): Promise<void> {
  const { redis, keys, host, log, metrics } = options;
  const hostLabel = hostKey(host);
  // With STREAM_SHARDS > 1 a DID's events, resync requests, continuity state and waits live in its shard (keys.ts).
  const streams = (did: string) => ({
    events: keys.stream(keys.shardFor(STREAMS.firehoseLive, did)),
    resync: keys.stream(keys.shardFor(STREAMS.repoBackfill, did)),
  });
  const shardNames = keys.shardsOf(STREAMS.firehoseLive);
  const report = createProblemReporter({ metrics, counter: 'skytide_firehose_errors_total', host, hostLabel, log, msg: 'firehose frame problem' });
  const waits = options.identity === undefined ? undefined : createIdentityWaitRoom({
    store: createIdentityWaitStore(redis, keys, host),
    identity: options.identity,
    ...(options.outages === undefined ? {} : { outages: options.outages }),
    didWaitMs: options.didWaitMs ?? DEFAULT_DID_WAIT_MS,
    maxParkedFrames: options.maxParkedFrames ?? DEFAULT_MAX_PARKED_FRAMES,
    ...(options.maxParkedPerDid === undefined ? {} : { maxParkedPerDid: options.maxParkedPerDid }),
    ...(options.waitRetry === undefined ? {} : { retry: options.waitRetry }),
    onOverflow: (did, dropped, batch) => {
      // More frames than one DID may park: they are given up and the repo is fetched whole once it can be verified.
      report('identity_wait_overflow', dropped, { did });
      if (options.filter !== undefined && !keepsDid(options.filter, did)) return;
      batch.append({ stream: streams(did).resync, fields: { repo: repoBackfillJson({ did, host, reason: 'identity_wait_overflow' }) } }, () =>
        metrics.inc('skytide_resync_requests_total', { reason: 'identity_wait_overflow' }));
    },
    host, hostLabel, log, metrics,
  });
  // With a lease, the waits are read each time it is taken (resume): another holder may have released some meanwhile.
  if (options.lease === undefined) await waits?.load();
  const handler = createRepoHandler({
    host, hostLabel, streams, metrics, report,
    ...(options.identity === undefined ? {} : { identity: options.identity }),
    ...(options.repoState === undefined ? {} : { repoState: options.repoState }),
    ...(waits === undefined ? {} : { waits }),
    ...(options.maxRevDriftMs === undefined ? {} : { maxRevDriftMs: options.maxRevDriftMs }),
    ...(options.filter === undefined ? {} : { filter: options.filter }),
  });
  await runSubscription({
    redis, host, nsid: SUBSCRIBE_REPOS, outdatedCursorRepair: FIREHOSE_GAP_REPAIR, stream: keys.stream(shardNames[0] ?? STREAMS.firehoseLive), cursorKey: keys.cursor(shardNames[0] ?? STREAMS.firehoseLive, host),
    ...(keys.tagged ? {
      shards: {
        cursorKeys: shardNames.map((name) => keys.cursor(name, host)),
        streams: shardNames.map((name) => keys.stream(name)),
        shardOf: ({ body }: { body: Record<string, unknown> }) => {
          const did = body['repo'] ?? body['did'];
          return typeof did === 'string' ? keys.shardOf(did) : undefined;
        },
        tagged: true,
      },
    } : {}),
    highWaterMark: options.highWaterMark, batchSize: options.batchSize, batchTimeoutMs: options.batchTimeoutMs,
    ...(options.initialCursor === undefined ? {} : { initialCursor: options.initialCursor }),
    maxFrameBytes: options.maxFrameBytes ?? MAX_FRAME_BYTES, log, metrics, report, signal: options.signal,
    counters: { frames: 'skytide_firehose_frames_total', errors: 'skytide_firehose_errors_total' },
    ...(options.lengthCheckIntervalMs === undefined ? {} : { lengthCheckIntervalMs: options.lengthCheckIntervalMs }),
    ...(options.backoff === undefined ? {} : { backoff: options.backoff }),
    ...(options.heartbeatMs === undefined ? {} : { heartbeatMs: options.heartbeatMs }),
    ...(options.outageBoard === undefined ? {} : { outageBoard: options.outageBoard }),
    ...(options.refusalBackoff === undefined ? {} : { refusalBackoff: options.refusalBackoff }),
    beat: options.beat,
    ...(options.onConnection === undefined ? {} : { onConnection: options.onConnection }),
    ...(options.lease === undefined ? {} : { lease: { ...options.lease, key: keys.lease(shardNames[0] ?? STREAMS.firehoseLive, host) } }),
  }, waits === undefined ? handler : { ...handler, resume: () => waits.load() });
}
