// subscribeRepos messages -> writes for the subscription batch: the repo-specific half of the firehose adapter.
// Promises:
// - Each message becomes its events in firehose_live and its resync requests in repo_backfill (a missing record
//   block, tooBig, an unreadable commit of a known repo, a #sync), counted by type and reason.
// - Sync 1.1 continuity across messages is one state per repo in Redis, compared and set inside the batch's MULTI
//   (adapters/redis/repo-state.ts): a commit not after the stored rev writes nothing (stale_rev), a prevData that is
//   not the stored root queues a resync (prev_data_mismatch), as does a since that is not the stored rev
//   (since_mismatch), a rev beyond the allowed clock drift is dropped
//   (future_rev, for a #sync too), a #sync that states where the repo already is queues nothing.
// - A commit that cannot be verified because its DID's identity is unavailable is parked with every later frame of
//   that DID but its #account frames (identity-wait.ts) and released, verified and written in order once the
//   identity can be learned. An #account is written at once: the index orders account changes by their own time.
// - An #identity drops the DID's cached identity (IdentityResolver.forget) before the DID's next frame is verified,
//   so its next commit is checked against the document as it is now.
// - The filters (functions/event-filter.ts) act on what is written, after the checks: every commit is verified and
//   advances its repo's continuity state, kept or not; only the kept events are appended (a commit whose ops are all
//   filtered out writes no event but still moves the state), and no resync is queued for a dropped DID.
import type { Metrics } from '../../functions/ports.ts';
import type { ResyncRequest } from '../../functions/result.ts';
import { capTime, repoBackfillJson, timeLimit, type StreamEvent } from '../../functions/events.ts';
import type { RepoFrameOutcome } from '../../functions/atproto/repo-frame-types.ts';
import { decodeRepoMessage } from '../../functions/atproto/repo-frame.ts';
import { dropReason, keepsDid, keepsEverything, type EventFilter } from '../../functions/event-filter.ts';
import { decodeFrame } from '../../functions/atproto/frame.ts';
import { withLookupDeadline, type IdentityResolver } from '../../functions/atproto/identity/did-document.ts';
import { isFutureRev, MAX_REV_DRIFT_MS } from '../../functions/atproto/syntax/tid-time.ts';
import { ADVANCE, type AdvanceResult, type RepoStateStore } from '../../adapters/redis/repo-state.ts';
import type { Batch, MessageKind, SubscriptionHandler, SubscriptionMessage } from '../subscription/subscription.ts';
import type { ReportProblem } from '../subscription/problems.ts';
import type { IdentityWaitRoom, ReleaseResult } from './identity-wait.ts';

/** How far in the future a commit's rev may be (clock drift between us and the PDS); the backfill uses the same. */
export const DEFAULT_MAX_REV_DRIFT_MS = MAX_REV_DRIFT_MS;
/**
 * How long the live path waits in line for a DID's identity. A cache hit or a quick directory answer never notices;
 * a slower lookup parks the frame and goes on beside the loop, so a slow PLC directory or a did:web host that hangs
 * until its timeout holds up no other DID.
 */
export const LIVE_LOOKUP_DEADLINE_MS = 250;

export interface RepoHandlerOptions {
  host: string;
  hostLabel: string;
  /** Full keys of firehose_live and repo_backfill, or of the shards of them that hold a DID (STREAM_SHARDS). */
  streams: { events: string; resync: string } | ((did: string) => { events: string; resync: string });
  /** Signing keys for the sync 1.1 checks; absent when the upstream is trusted (each commit is then counted). */
  identity?: IdentityResolver;
  /** The per-repo continuity state; absent: no continuity checks. */
  repoState?: RepoStateStore;
  /** Where frames wait for an identity; required with `identity`. */
  waits?: IdentityWaitRoom;
  maxRevDriftMs?: number;
  /** What is kept (INGESTER_COLLECTIONS, INGESTER_DIDS, INGESTER_EXCLUDE_DIDS); absent: everything. */
  filter?: EventFilter;
  /** LIVE_LOOKUP_DEADLINE_MS unless given. */
  liveLookupDeadlineMs?: number;
  metrics: Metrics;
  report: ReportProblem;
  now?: () => number;
}

export interface RepoHandler extends SubscriptionHandler {
  /** Writes a DID's parked frames into the batch in order, until one must wait again. */
  release(did: string, frames: readonly Uint8Array[], batch: Batch, identity: IdentityResolver): Promise<ReleaseResult>;
}

/** The DID a subscribeRepos message is about, read before decoding it (so a waiting DID's frames are parked as is). */
function didOf(body: Record<string, unknown>): string | undefined {
  const v = body['repo'] ?? body['did'];
  return typeof v === 'string' ? v : undefined;
}

export function createRepoHandler(o: RepoHandlerOptions): RepoHandler {
  const now = o.now ?? Date.now;
  const streams = typeof o.streams === 'function' ? o.streams : ((fixed) => () => fixed)(o.streams);
  const maxDriftMs = o.maxRevDriftMs ?? DEFAULT_MAX_REV_DRIFT_MS;

  const resyncJson = (r: ResyncRequest) => repoBackfillJson({ did: r.did, host: o.host, reason: r.reason });
  const countEvents = (events: readonly StreamEvent[]) => {
    for (const e of events) o.metrics.inc('skytide_firehose_events_total', { host: o.hostLabel, type: e.type });
  };
  const countResync = (requests: readonly ResyncRequest[]) => {
    for (const r of requests) o.metrics.inc('skytide_resync_requests_total', { reason: r.reason });
  };
  const filter = o.filter === undefined || keepsEverything(o.filter) ? undefined : o.filter;
  /** The events the filter keeps (each dropped one counted, whether or not its commit turns out stale). */
  const keptEvents = (events: StreamEvent[]): StreamEvent[] => {
    if (filter === undefined) return events;
    return events.filter((e) => {
      const why = dropReason(filter, e);
      if (why !== undefined) o.metrics.inc('skytide_filtered_total', { where: 'firehose', why });
      return why === undefined;
    });
  };
  /** Nobody resyncs a repo we do not keep. */
  const keptResync = (requests: ResyncRequest[]): ResyncRequest[] =>
    filter === undefined ? requests : requests.filter((r) => keepsDid(filter, r.did));

  /** Events and resync requests written as they are (no continuity state involved). */
  const appendPlain = (events: readonly StreamEvent[], resync: readonly ResyncRequest[], batch: Batch) => {
    for (const e of events) batch.append({ stream: streams(e.did).events, fields: { event: JSON.stringify(e) } }, () => countEvents([e]));
    for (const r of resync) batch.append({ stream: streams(r.did).resync, fields: { repo: resyncJson(r) } }, () => countResync([r]));
  };

  const appendCommit = (out: Extract<RepoFrameOutcome, { kind: 'sequenced' }>, batch: Batch) => {
    const state = out.state;
    if (state === undefined || o.repoState === undefined) {
      appendPlain(out.events, out.resync, batch);
      return;
    }
    if (isFutureRev(state.rev, now(), maxDriftMs)) {
      o.report('future_rev', 1, { did: out.did, rev: state.rev });
      appendPlain([], out.resync, batch);
      return;
    }
    const gap: ResyncRequest = { did: out.did, reason: 'prev_data_mismatch' };
    const sinceGap: ResyncRequest = { did: out.did, reason: 'since_mismatch' };
    const gapKept = keptResync([gap]).length > 0;
    const entries = [
      ...out.events.map((e) => ({ to: 'events' as const, value: JSON.stringify(e) })),
      ...out.resync.map((r) => ({ to: 'resync' as const, value: resyncJson(r) })),
    ];
    const op = o.repoState.advance(out.did, {
      mode: 'commit', rev: state.rev, ...(state.data === undefined ? {} : { data: state.data }), prevData: state.prevData ?? null,
      since: state.since ?? null, streams: streams(out.did), entries,
      ...(gapKept ? { resync: resyncJson(gap), sinceResync: resyncJson(sinceGap) } : {}),
    }, (result: AdvanceResult) => {
      if (result === ADVANCE.stale) {
        o.report('stale_rev', 1, { did: out.did, rev: state.rev, seq: out.seq });
        return;
      }
      countEvents(out.events);
      countResync(out.resync);
      if (result === ADVANCE.appliedAfterGap) {
        o.report('prev_data_mismatch', 1, { did: out.did, rev: state.rev, seq: out.seq });
        if (gapKept) countResync([gap]);
      } else if (result === ADVANCE.appliedAfterSinceGap) {
        o.report('since_mismatch', 1, { did: out.did, rev: state.rev, since: state.since, seq: out.seq });
        if (gapKept) countResync([sinceGap]);
      }
    });
    batch.add(op, entries.length + 1);
  };

  const appendSync = (out: Extract<RepoFrameOutcome, { kind: 'sequenced' }>, batch: Batch) => {
    const state = out.state;
    if (state === undefined || o.repoState === undefined) {
      appendPlain(out.events, out.resync, batch);
      return;
    }
    if (isFutureRev(state.rev, now(), maxDriftMs)) {
      // Refused outright (nothing queued): a #sync from the future would hold the repo's later commits back as stale.
      o.report('future_rev', 1, { did: out.did, rev: state.rev, seq: out.seq });
      return;
    }
    const [first, ...others] = out.resync;
    const op = o.repoState.advance(out.did, {
      mode: 'sync', rev: state.rev, ...(state.data === undefined ? {} : { data: state.data }),
      streams: streams(out.did), entries: others.map((r) => ({ to: 'resync' as const, value: resyncJson(r) })),
      ...(first === undefined ? {} : { resync: resyncJson(first) }),
    }, (result: AdvanceResult) => {
      if (result === ADVANCE.stale) o.report('stale_rev', 1, { did: out.did, rev: state.rev, seq: out.seq });
      else if (result !== ADVANCE.alreadyThere) countResync(out.resync);
    });
    batch.add(op, out.resync.length);
  };

  /** The outcome's events, each dated no later than it was received plus the allowed drift (events.ts, capTime). */
  const timely = (out: Extract<RepoFrameOutcome, { kind: 'sequenced' }>): StreamEvent[] => {
    if (out.events.length === 0) return out.events;
    const received = now();
    const limit = timeLimit(received, maxDriftMs);
    const events = out.events.map((e) => capTime(e, limit, received));
    const capped = events.filter((e, i) => e !== out.events[i]).length;
    if (capped > 0) o.report('future_time', capped, { did: out.did, seq: out.seq, time: out.events[0]?.time });
    return events;
  };

  /** Writes one decoded outcome; `deferred` is the caller's to handle. */
  const apply = (out: Exclude<RepoFrameOutcome, { kind: 'deferred' }>, batch: Batch): MessageKind => {
    if (o.identity === undefined && out.kind === 'sequenced' && out.t === '#commit') {
      o.metrics.inc('skytide_firehose_unverified_commits_total', { host: o.hostLabel });
    }
    switch (out.kind) {
      case 'sequenced': {
        for (const d of out.dropped) o.report(d.reason, d.count, { did: out.did, seq: out.seq });
        // Filtered after the checks, before the writes: the continuity state below still sees the commit.
        const kept = { ...out, events: keptEvents(timely(out)), resync: keptResync(out.resync) };
        if (kept.t === '#commit') appendCommit(kept, batch);
        else if (kept.t === '#sync') appendSync(kept, batch);
        else appendPlain(kept.events, kept.resync, batch);
        return 'sequenced';
      }
      case 'ignored':
        o.report(out.reason, 1, { t: out.t });
        return 'ignored';
      case 'invalid':
        o.report(out.reason, 1, { message: out.message, seq: out.seq, did: out.did });
        // A commit we could not read still happened: its repo is fetched whole instead.
        if (out.did !== undefined) appendPlain([], keptResync([{ did: out.did, reason: out.reason }]), batch);
        return 'invalid';
      case 'info':
      case 'error':
        // decodeRepoMessage never answers these (the subscription core handles #info and error frames).
        o.report('invalid_frame', 1, { message: `unexpected ${out.kind} outcome` });
        return 'invalid';
    }
  };

  const decode = (message: { t: string; body: Record<string, unknown> }, identity: IdentityResolver | undefined) =>
    decodeRepoMessage(message.t, message.body, identity === undefined ? {} : { identity });
  /**
   * An #identity says the DID's document changed (identity spec: a prod to refresh caches): the cached identity is
   * dropped before the DID's next frame is verified, so a key rotated away no longer verifies its commits, as indigo's
   * relay purges its directory on #identity.
   */
  const forgetOnIdentity = async (out: RepoFrameOutcome): Promise<boolean> => {
    if (out.kind !== 'sequenced' || out.t !== '#identity' || o.identity?.forget === undefined) return false;
    await o.identity.forget(out.did);
    return true;
  };
  // Only where a slow lookup can be waited for beside the loop: with a waiting room.
  const liveIdentity = o.identity === undefined || o.waits === undefined ? o.identity : withLookupDeadline(o.identity, o.liveLookupDeadlineMs ?? LIVE_LOOKUP_DEADLINE_MS);

  const release: RepoHandler['release'] = async (did, frames, batch, identity) => {
    let released = 0;
    let verifyWith = identity;
    // Commits judged together (a did:web host past its window) ask for the same resync: queue it once.
    const queued = new Set<string>();
    for (const bytes of frames) {
      const frame = decodeFrame(bytes);
      if (frame.kind !== 'message') {
        // Only sequenced messages are parked; anything else is our own corruption of the list, counted and skipped.
        o.report('invalid_frame', 1, { did, message: 'a parked frame is not a message' });
        released++;
        continue;
      }
      const out = await decode(frame, verifyWith);
      if (out.kind === 'deferred') return { released, waitAgain: out.waitOn };
      if (out.kind === 'sequenced' && out.state === undefined) {
        out.resync = out.resync.filter((r) => {
          const key = `${r.did} ${r.reason}`;
          if (queued.has(key)) return false;
          queued.add(key);
          return true;
        });
      }
      // The frames after a released #identity need the document fetched afresh: in line only as long as a live
      // lookup may take, else they wait for it beside the loop.
      if (await forgetOnIdentity(out)) verifyWith = withLookupDeadline(identity, o.liveLookupDeadlineMs ?? LIVE_LOOKUP_DEADLINE_MS);
      apply(out, batch);
      released++;
    }
    return { released };
  };

  return {
    release,
    async onMessage(message: SubscriptionMessage, batch: Batch): Promise<MessageKind> {
      const did = didOf(message.body);
      // An #account needs no identity (it is the upstream's word, not signed by the repo), and its change applies in
      // the order of its own time, whatever the stream order (functions/index/account-state.ts): a takedown of a DID
      // whose commits wait for the PLC goes in now, not when the PLC answers.
      if (o.waits !== undefined && did !== undefined && message.t !== '#account' && o.waits.isWaiting(did)) {
        // Behind an earlier frame of the same DID that waits for its identity: kept in order, behind it.
        o.waits.park(did, message.bytes, batch);
        return 'deferred';
      }
      const out = await decode(message, liveIdentity);
      if (out.kind === 'deferred') {
        if (o.waits === undefined) {
          // Nowhere to wait (no waiting room wired): judged as before, the repo resynced.
          o.report('identity_failed', 1, { did: out.did, seq: out.seq, message: out.message });
          appendPlain([], keptResync([{ did: out.did, reason: 'identity_failed' }]), batch);
          return 'invalid';
        }
        o.waits.park(out.did, message.bytes, batch, out.waitOn);
        return 'deferred';
      }
      await forgetOnIdentity(out);
      return apply(out, batch);
    },

    async between(batch) {
      if (o.waits !== undefined) await o.waits.step(batch, release);
    },

    holdReason() {
      return o.waits?.holdReason();
    },
  };
}
