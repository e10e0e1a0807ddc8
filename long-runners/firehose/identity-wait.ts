// Identity waits on the live path: when a commit cannot be verified because its DID's identity is unavailable (the
// PLC directory or DNS is down, or the DID's own did:web host does not answer), its frame is parked, never judged.
// Promises:
// - Once a DID waits, every later frame of it on this host (#commit, #identity, #sync) is parked behind the first, so
//   the DID's order is kept; other DIDs go on. Its #account frames are not (repo-handler.ts): they need no identity,
//   and the index applies account changes in the order of their own time, so a takedown never waits on the PLC.
// - Parking is in the same MULTI as the batch's entries and cursor (adapters/redis/identity-waits.ts): the cursor only
//   passes frames that are in the stream or parked, and a restart or SIGKILL loses none of them.
// - The live path gives a lookup LIVE_LOOKUP_DEADLINE_MS (repo-handler.ts); a slower one parks the frame too (`lookup`)
//   and goes on beside the loop, so a slow directory or a did:web host that hangs holds up no other DID.
// - Between batches, in the subscription's own loop (never beside a message), waiting DIDs are looked up again with
//   backoff: per DID, and per dependency through the outage breaker (one probe per interval while the PLC is down,
//   every waiting DID as soon as it answers). A DID whose identity resolves has its frames decoded, verified and
//   written in order (continuity checks included), then trimmed, in one atomic step that lands once even when its
//   reply is lost and it is sent again (the release op's marker, adapters/redis/identity-waits.ts); a frame that
//   must wait again stops the release there.
// - A dependency outage is waited out for as long as it lasts. A DID waiting on its own host (did:web) waits
//   `didWaitMs` at most; then its parked commits are judged as unverifiable (identity_failed: dropped, the repo
//   resynced), like any commit whose DID document cannot be had.
// - Bounded: at most MAX_PARKED_PER_DID frames per DID (beyond it the DID's parked frames are dropped and its repo is
//   resynced, and it keeps waiting), and `maxParkedFrames` per host, at which the subscription stops reading its
//   socket until releases bring it down (an outage then holds the firehose, never memory).
import pLimit from 'p-limit';
import type { Log, Metrics } from '../../functions/ports.ts';
import { describeError, dependencyErrorIn, SkytideError, type Dependency } from '../../functions/errors.ts';
import { createBackoff, type Backoff } from '../../functions/backoff.ts';
import { DidHostUnavailableError, type IdentityResolver } from '../../functions/atproto/identity/did-document.ts';
import type { IdentityWait } from '../../functions/atproto/repo-frame-types.ts';
import type { OutageView } from '../../adapters/identity/outage-breaker.ts';
import type { IdentityWaitStore } from '../../adapters/redis/identity-waits.ts';
import type { Batch } from '../subscription/batch.ts';

/** Frames parked for one DID before they are given up for a resync of its repo. */
export const MAX_PARKED_PER_DID = 10_000;
/** Identity lookups for waiting DIDs in flight at once. */
export const MAX_LOOKUPS_IN_FLIGHT = 8;
/** Parked frames released per step between batches, so a long queue never keeps the loop from its socket for long. */
export const MAX_RELEASED_PER_STEP = 1000;
/** Per-DID retry delays after a failed lookup. */
export const WAIT_RETRY = { baseMs: 1000, maxMs: 60_000 } as const;

/** What releasing a DID's frames did: how many were written, and whether the next one must wait again (and why). */
export interface ReleaseResult {
  released: number;
  waitAgain?: IdentityWait;
}

/**
 * Writes a DID's parked frames, in order, into the batch; stops at the first that must wait again. `identity` is
 * the resolver to verify them with: the live one, or one that answers a verdict (a did:web host past its window).
 */
export type ReleaseFrames = (did: string, frames: readonly Uint8Array[], batch: Batch, identity: IdentityResolver) => Promise<ReleaseResult>;

export interface IdentityWaitRoomOptions {
  store: IdentityWaitStore;
  identity: IdentityResolver;
  /** The outage breaker in front of the network resolver: when each dependency may be tried again. */
  outages?: OutageView;
  /** How long frames wait for a DID's own host (did:web) before they are judged. */
  didWaitMs: number;
  /** Parked frames on this host at which reading holds. */
  maxParkedFrames: number;
  /** Frames one DID may park (default MAX_PARKED_PER_DID). */
  maxParkedPerDid?: number;
  /** Per-DID retry delays (default WAIT_RETRY). */
  retry?: { baseMs: number; maxMs: number };
  /** A DID's parked frames were dropped (over MAX_PARKED_PER_DID): the caller queues its repo for a resync. */
  onOverflow: (did: string, dropped: number, batch: Batch) => void;
  host: string;
  hostLabel: string;
  log: Log;
  metrics: Metrics;
  now?: () => number;
}

interface Waiter {
  since: number;
  on: IdentityWait;
  parked: number;
  dueAt: number;
  retries: Backoff;
  lookup?: Promise<LookupResult>;
  settled?: LookupResult;
  /** Looked up successfully (or judged): its frames are released step by step. */
  ready?: { identity: IdentityResolver };
}

type LookupResult = { ok: true } | { ok: false; waitOn: IdentityWait; message: string } | { ok: false; verdict: SkytideError };

export interface IdentityWaitRoom {
  /** Reads the waiting DIDs and their parked counts from Redis (at start-up). */
  load(): Promise<void>;
  isWaiting(did: string): boolean;
  /** Parks one frame of `did` (which starts waiting on `on` unless it already waits). */
  park(did: string, frame: Uint8Array, batch: Batch, on?: IdentityWait): void;
  /** One step between batches: settles lookups, starts due ones, releases what can be released. */
  step(batch: Batch, release: ReleaseFrames): Promise<void>;
  /** A reason to stop reading while too many frames are parked. */
  holdReason(): string | undefined;
  readonly waitingDids: number;
  readonly parkedFrames: number;
}

function classify(err: unknown): LookupResult {
  const outage = dependencyErrorIn(err);
  if (outage !== undefined) return { ok: false, waitOn: outage.dependency, message: outage.message };
  if (err instanceof DidHostUnavailableError || !(err instanceof SkytideError) || err.reason === 'fetch_failed') {
    return { ok: false, waitOn: 'did', message: describeError(err) };
  }
  return { ok: false, verdict: err };
}

function failing(err: SkytideError): IdentityResolver {
  return {
    resolve: async () => {
      throw err;
    },
  };
}

export function createIdentityWaitRoom(o: IdentityWaitRoomOptions): IdentityWaitRoom {
  const now = o.now ?? Date.now;
  const waiters = new Map<string, Waiter>();
  let parkedFrames = 0;
  /** A release was refused (its frames no longer at the head): the waits are read from Redis at the next step. */
  let reloadDue = false;
  // Lookups run beside the loop (they touch only the identity cache), so one that hangs until its timeout holds up
  // neither the socket nor the other DIDs; what they find is acted on in the loop, at the next step.
  const limit = pLimit(MAX_LOOKUPS_IN_FLIGHT);
  const retry = o.retry ?? WAIT_RETRY;
  const maxPerDid = o.maxParkedPerDid ?? MAX_PARKED_PER_DID;
  const newRetries = () => createBackoff({ ...retry, jitter: 'equal' });

  const forget = (did: string) => {
    const w = waiters.get(did);
    if (w === undefined) return;
    parkedFrames -= w.parked;
    waiters.delete(did);
  };

  const lookUp = (did: string, w: Waiter) => {
    w.lookup = limit(() =>
      o.identity.resolve(did).then(
        (): LookupResult => ({ ok: true }),
        (err: unknown) => classify(err),
      ),
    );
    void w.lookup.then((result) => {
      w.settled = result;
      delete w.lookup;
    });
  };

  const settle = (did: string, w: Waiter, result: LookupResult) => {
    delete w.settled;
    if (result.ok) {
      w.ready = { identity: o.identity };
      w.retries.reset();
      return;
    }
    if ('verdict' in result) {
      // A definite answer (no such DID, an unusable document): its commits are judged by it, as live ones are.
      w.ready = { identity: failing(result.verdict) };
      return;
    }
    w.on = result.waitOn;
    if (w.on === 'did' && now() - w.since >= o.didWaitMs) {
      o.log.warn('identity of a DID still unavailable after its wait: its parked commits are judged unverifiable', {
        host: o.host, did, waitedMs: now() - w.since, parked: w.parked, err: result.message,
      });
      w.ready = { identity: failing(new SkytideError('identity_failed', `identity of ${did} unavailable for ${Math.round((now() - w.since) / 1000)} s: ${result.message}`, { did })) };
      return;
    }
    w.dueAt = now() + w.retries.next();
  };

  /** Whether a lookup through this dependency may go out now, and whether it is the breaker's single probe. */
  const gate = (on: IdentityWait, probesTaken: Set<Dependency>): 'go' | 'probe' | 'blocked' => {
    if (on === 'did' || on === 'lookup' || o.outages === undefined) return 'go';
    const at = o.outages.retryAt(on);
    if (at === undefined) return 'go';
    if (at > now() || probesTaken.has(on)) return 'blocked';
    probesTaken.add(on);
    return 'probe';
  };

  const room: IdentityWaitRoom = {
    async load() {
      const stored = await o.store.load();
      parkedFrames = 0;
      waiters.clear();
      for (const [did, s] of stored) {
        waiters.set(did, { since: s.since, on: s.on, parked: s.parked, dueAt: 0, retries: newRetries() });
        parkedFrames += s.parked;
      }
      if (waiters.size > 0) o.log.info('identity waits carried over', { host: o.host, dids: waiters.size, frames: parkedFrames });
    },

    isWaiting: (did) => waiters.has(did),

    park(did, frame, batch, on = 'did') {
      let w = waiters.get(did);
      if (w === undefined) {
        // A lookup that was only slow is joined at once (the cache shares the running one); a failed one is retried.
        w = { since: now(), on, parked: 0, dueAt: on === 'lookup' ? now() : now() + retry.baseMs, retries: newRetries() };
        waiters.set(did, w);
        batch.add(o.store.startOp(did, { since: w.since, on }));
        o.metrics.inc('skytide_identity_waits_total', { host: o.hostLabel, on });
        o.log.info('identity unavailable: frames of this DID wait for it', { host: o.host, did, on });
      }
      if (w.parked >= maxPerDid) {
        batch.add(o.store.discardOp(did));
        o.onOverflow(did, w.parked, batch);
        parkedFrames -= w.parked;
        w.parked = 0;
      }
      batch.add(o.store.parkOp(did, frame), 1);
      w.parked++;
      parkedFrames++;
      o.metrics.inc('skytide_identity_parked_frames_total', { host: o.hostLabel });
    },

    async step(batch, release) {
      if (reloadDue) {
        reloadDue = false;
        await room.load();
      }
      if (waiters.size === 0) return;
      for (const [did, w] of waiters) if (w.settled !== undefined) settle(did, w, w.settled);

      // Look up again every DID that is due, oldest first, as far as the breaker allows: while a dependency is down,
      // one probe per interval; once it answers, all of them (MAX_LOOKUPS_IN_FLIGHT at a time).
      const probesTaken = new Set<Dependency>();
      const due = [...waiters].filter(([, w]) => w.ready === undefined && w.lookup === undefined && w.settled === undefined && w.dueAt <= now()).sort((a, b) => a[1].dueAt - b[1].dueAt);
      for (const [did, w] of due) if (gate(w.on, probesTaken) !== 'blocked') lookUp(did, w);

      // Release what can be released, oldest waits first, within the step's budget.
      let budget = MAX_RELEASED_PER_STEP;
      const ready = [...waiters].filter(([, w]) => w.ready !== undefined).sort((a, b) => a[1].since - b[1].since);
      for (const [did, w] of ready) {
        if (budget <= 0) break;
        const frames = await o.store.read(did, Math.min(budget, w.parked > 0 ? w.parked : budget));
        const result = frames.length === 0 ? { released: 0 } : await release(did, frames, batch, w.ready!.identity);
        budget -= Math.max(result.released, 1);
        if (result.waitAgain !== undefined) {
          delete w.ready;
          w.on = result.waitAgain;
          w.dueAt = now() + w.retries.next();
        }
        const released = result.released;
        batch.add(o.store.releaseOp(did, released, frames[0], (left) => {
          if (left < 0) {
            // The frames read were gone from the head when the batch ran: another writer for this host released
            // them (the lease keeps that from happening). Nothing was trimmed; memory is read again from Redis.
            o.log.warn('parked frames moved under this release: nothing trimmed, identity waits read again', { host: o.host, did, released });
            reloadDue = true;
            return;
          }
          const current = waiters.get(did);
          if (current === undefined) return;
          parkedFrames -= current.parked - left;
          current.parked = left;
          if (left === 0) {
            forget(did);
            o.log.info('identity available again: parked frames released', { host: o.host, did, waitedMs: now() - w.since });
          }
        }));
      }
    },

    holdReason() {
      return parkedFrames >= o.maxParkedFrames ? `${parkedFrames} frames wait for identities (limit ${o.maxParkedFrames})` : undefined;
    },

    get waitingDids() {
      return waiters.size;
    },
    get parkedFrames() {
      return parkedFrames;
    },
  };
  return room;
}
