// One did:plc the PLC directory keeps failing for (a 5xx for that DID alone: its operation log broken on the
// directory's side) while it answers other DIDs. Every lookup of it is a `plc` outage, and a consumer waits an outage
// out with its whole batch: one such label held the label loop for ever, one such repo a backfill loop, nothing
// dead-lettered and every other entry behind it. Between the Redis cache and the network resolver, this wrapper
// counts each DID's run of outages; once it has lasted `minSpanMs` over at least `minFailures` lookups, and the
// directory answered another DID since the run began (seen in passing, or asked: the last DID it resolved here), the
// DID's lookup fails as `identity_failed`, its own failure, which callers retry and in the end dead-letter. A real
// outage fails every DID, so no other answers and nothing changes: it is waited out. Counts live in this process only
// (a restart counts again) and are bounded.
import type { Log } from '../../functions/ports.ts';
import { SkytideError, dependencyErrorIn } from '../../functions/errors.ts';
import type { AtprotoIdentity, IdentityResolver } from '../../functions/atproto/identity/did-document.ts';

export interface StubbornDidOptions {
  log: Log;
  /** A run of outages this long (10 minutes by default)... */
  minSpanMs?: number;
  /** ...of at least this many lookups (5) makes the DID's failure its own. */
  minFailures?: number;
  /** Another DID is asked for at most this often to learn whether the directory answers (30 s). */
  askEveryMs?: number;
  now?: () => number;
}

export const STUBBORN_MIN_SPAN_MS = 10 * 60_000;
export const STUBBORN_MIN_FAILURES = 5;
const ASK_EVERY_MS = 30_000;
/** DIDs whose runs are counted at once; the oldest run is forgotten past it. */
const MAX_RUNS = 10_000;

interface Run {
  since: number;
  failures: number;
}

export function withStubbornDidCheck(inner: IdentityResolver, options: StubbornDidOptions): IdentityResolver {
  const now = options.now ?? Date.now;
  const minSpanMs = options.minSpanMs ?? STUBBORN_MIN_SPAN_MS;
  const minFailures = options.minFailures ?? STUBBORN_MIN_FAILURES;
  const askEveryMs = options.askEveryMs ?? ASK_EVERY_MS;
  const runs = new Map<string, Run>();
  /** When the directory last answered any did:plc (a document or a verdict), and the last one it resolved. */
  let answeredAt = Number.NEGATIVE_INFINITY;
  let lastResolved: string | undefined;
  let askedAt = Number.NEGATIVE_INFINITY;

  const answered = (did: string, resolved: boolean) => {
    answeredAt = now();
    if (resolved) lastResolved = did;
    runs.delete(did);
  };

  /** Whether the directory answered another DID since `since`: seen, or asked now (at most every askEveryMs). */
  const answersOthers = async (did: string, since: number): Promise<boolean> => {
    if (answeredAt > since) return true;
    const other = lastResolved;
    if (other === undefined || other === did || now() - askedAt < askEveryMs) return false;
    askedAt = now();
    try {
      await inner.resolve(other, { forceRefresh: true });
      answered(other, true);
    } catch (err) {
      if (dependencyErrorIn(err) === undefined) answered(other, false);
    }
    return answeredAt > since;
  };

  return {
    async resolve(did, resolveOptions): Promise<AtprotoIdentity> {
      if (!did.startsWith('did:plc:')) return inner.resolve(did, resolveOptions);
      try {
        const identity = await inner.resolve(did, resolveOptions);
        answered(did, true);
        return identity;
      } catch (err) {
        const outage = dependencyErrorIn(err);
        if (outage === undefined || outage.dependency !== 'plc') {
          if (outage === undefined) answered(did, false);
          throw err;
        }
        const run = runs.get(did) ?? { since: now(), failures: 0 };
        run.failures++;
        runs.delete(did);
        runs.set(did, run);
        if (runs.size > MAX_RUNS) runs.delete(runs.keys().next().value as string);
        if (run.failures < minFailures || now() - run.since < minSpanMs || !(await answersOthers(did, run.since))) throw err;
        options.log.warn('the PLC directory keeps failing for one DID while it answers others: its lookup fails as its own', {
          did, failures: run.failures, sinceMs: now() - run.since, err: outage.message,
        });
        // No cause: callers find an outage anywhere in the cause chain (dependencyErrorIn), and the DependencyError
        // kept there made this verdict an outage again, waited out for ever. Its message is kept in this one.
        throw new SkytideError('identity_failed', `the PLC directory failed ${run.failures} lookups of ${did} over ${Math.round((now() - run.since) / 1000)} s while it answered other DIDs: ${outage.message}`, { did });
      }
    },
    ...(inner.forget === undefined ? {} : { forget: (did: string) => inner.forget!(did) }),
  };
}
