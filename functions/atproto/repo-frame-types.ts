// The contract between the subscribeRepos frame decoder (functions/atproto/repo-frame.ts) and the firehose
// long-runner. The decoder is pure: bytes in, a RepoFrameOutcome out. It never throws on upstream data; a frame it
// cannot use becomes `{ kind: 'invalid', reason }` and is counted by the caller.
import type { Reason } from '../reasons.ts';
import type { ResyncRequest } from '../result.ts';
import type { StreamEvent } from '../events.ts';
import type { Dependency } from '../errors.ts';

/**
 * What a commit's verification waits for when its DID's identity cannot be learned now: a dependency that is down
 * (everyone's outage: the PLC directory, DNS), `did` when it is this DID's own (its did:web host does not answer), or
 * `lookup` when the lookup is still running and the caller would rather not wait for it in line.
 */
export type IdentityWait = Dependency | 'did' | 'lookup';

export type RepoFrameOutcome =
  /**
   * A sequenced message (#commit, #sync, #identity, #account). `events` may be empty (an empty commit); the cursor
   * still advances to `seq` once `events` are durably written. `resync` lists repos to queue in repo_backfill
   * (a missing record block, tooBig, #sync). `dropped` counts ops not emitted (for #identity, an invalid handle
   * left out of its event), by reason.
   */
  | {
      kind: 'sequenced';
      t: '#commit' | '#sync' | '#identity' | '#account';
      seq: number;
      did: string;
      events: StreamEvent[];
      resync: ResyncRequest[];
      dropped: { reason: Reason; count: number }[];
      /** For #commit and #sync: the repo state this message moves to, for continuity checks across messages. */
      state?: { rev: string; data?: string; since?: string | null; prevData?: string | null };
    }
  /**
   * A #commit or #sync that cannot be verified now because its DID's identity is unavailable (not a verdict on it):
   * the caller keeps the frame and decodes it again once the identity can be learned.
   */
  | { kind: 'deferred'; t: '#commit' | '#sync'; seq: number; did: string; waitOn: IdentityWait; message: string }
  /** #info, for example OutdatedCursor. No seq. */
  | { kind: 'info'; name: string; message?: string }
  /** An op = -1 error frame; upstream closes after it (FutureCursor, ConsumerTooSlow, ...). */
  | { kind: 'error'; error: string; message?: string }
  /** A frame the spec says to ignore (unknown op or t); carries seq when the body had one. */
  | { kind: 'ignored'; reason: Reason; t?: string; seq?: number }
  /** Bytes that are not a valid frame, or a known message whose body is unusable. Counted, never fatal. */
  | { kind: 'invalid'; reason: Reason; message: string; seq?: number; did?: string };
