// The handles of a batch's #identity events, verified before the transaction (it is network I/O). What it promises:
// - A handle changes only on a definite answer: the DID document claims it and it resolves back to the DID (kept),
//   or it resolves to another DID or to nothing (cleared). An outage or any failure to find out (PLC, DNS, the
//   handle's own web server) keeps the last verified handle, and the DID is handed back as `unverified` so the caller
//   queues a follow-up (a `handle_unverified` resync: an identity-only pass of backfill-repo, which waits the outage
//   out and then verifies). Except that when the document was read and claims another handle than the stored one,
//   the stored one is cleared (`claims`): the DID no longer claims it, which is definite whatever DNS says.
// - It never throws and never holds the batch longer than its deadline: an identity outage must not stall indexing
//   of everyone else's records. After the first outage in a batch, its remaining DIDs are not even tried.
import pLimit from 'p-limit';
import type { IdentityEvent } from '../events.ts';
import type { BasePorts } from '../ports.ts';
import type { IdentityResolver } from '../atproto/identity/did-document.ts';
import { verifiedHandle, type HandleResolver } from '../atproto/identity/handle.ts';
import { dependencyErrorIn, describeError } from '../errors.ts';

/** Verifications in flight per batch. */
export const IDENTITY_CONCURRENCY = 8;
/** Longest a batch waits for its identity verifications before it goes on without the ones not done. */
export const IDENTITY_DEADLINE_MS = 10_000;

export interface IdentityPassPorts extends BasePorts {
  identity?: IdentityResolver;
  handles?: HandleResolver;
  identityDeadlineMs?: number;
}

export interface IdentityPass {
  /** DIDs whose handle is known for sure: the handle, or null for none. */
  verdicts: Map<string, string | null>;
  /** DIDs whose handle could not be verified now: their stored handle stays, and a follow-up is due. */
  unverified: string[];
  /**
   * Of the unverified, those whose DID document was read: what it claims (null: nothing). A stored handle other than
   * the claim is cleared (actors.ts, unverifiedClaim).
   */
  claims: Map<string, string | null>;
  /**
   * True when nothing verifies and each event's handle is taken as it is: then an earlier event's claim happened as
   * written, and moves the handle from whoever held it. A verification instead answers for the DID as it is now, so
   * an earlier event of the same DID tells nothing more.
   */
  asIs: boolean;
}

export async function verifyIdentities(identities: ReadonlyMap<string, { event: IdentityEvent }>, ports: IdentityPassPorts): Promise<IdentityPass> {
  const verdicts = new Map<string, string | null>();
  const unverified: string[] = [];
  const claims = new Map<string, string | null>();
  const { identity, handles } = ports;
  if (identity === undefined || handles === undefined) {
    // Nothing to verify with (tests, tools): the event's handle is taken as it is.
    for (const [did, { event }] of identities) verdicts.set(did, event.handle ?? null);
    return { verdicts, unverified, claims, asIs: true };
  }
  if (identities.size === 0) return { verdicts, unverified, claims, asIs: false };
  // Written by the verifications, read once when the pass ends; one that finishes later writes where nobody looks.
  const results = new Map<string, string | null>();
  const claimed = new Map<string, string | null>();
  let closed = false;
  let outage = false;
  const limit = pLimit(IDENTITY_CONCURRENCY);
  const work = Promise.all(
    [...identities.keys()].map((did) =>
      limit(async () => {
        if (outage || closed) return;
        try {
          const doc = await identity.resolve(did, { forceRefresh: true });
          claimed.set(did, doc.claimedHandle ?? null);
          const handle = await verifiedHandle(doc, handles);
          results.set(did, handle ?? null);
        } catch (err) {
          if (dependencyErrorIn(err) !== undefined) outage = true;
          ports.log.warn('identity not verified, handle kept', { did, err: describeError(err) });
        }
      }),
    ),
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ports.identityDeadlineMs ?? IDENTITY_DEADLINE_MS);
  });
  await Promise.race([work, deadline]);
  clearTimeout(timer);
  closed = true;
  // Whatever did not settle by now keeps its handle.
  for (const did of identities.keys()) {
    const verdict = results.get(did);
    if (verdict !== undefined) {
      verdicts.set(did, verdict);
      continue;
    }
    unverified.push(did);
    const claim = claimed.get(did);
    if (claim !== undefined) claims.set(did, claim);
  }
  return { verdicts, unverified, claims, asIs: false };
}
