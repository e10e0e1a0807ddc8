// A circuit breaker per identity dependency (the PLC directory for did:plc, DNS for did:web), between the Redis cache
// and the network resolver. While a dependency is down, lookups that miss the cache fail at once with a
// DependencyError instead of each waiting out a timeout, and one probe goes out per backoff interval; the first
// answer closes the breaker (a document, or a verdict: no such DID, a tombstone, a bad document). Cache hits never reach it, so known identities keep verifying through an outage.
// It opens only when lookups of two different DIDs failed in a row with an outage: one DID that keeps failing (its
// document is broken on the directory's side) must not close the door on every other DID. A did:plc lookup fails on
// DNS when the directory's own name does not resolve: the DNS state it opens closes when a did:plc lookup succeeds
// again, not only on a did:web one (rare, cache misses only, while DIDs waiting on DNS came back one per probe).
import type { Log } from '../../functions/ports.ts';
import { DependencyError, SkytideError, dependencyErrorIn, type Dependency } from '../../functions/errors.ts';
import type { AtprotoIdentity, IdentityResolver } from '../../functions/atproto/identity/did-document.ts';
import { createBackoff, type Backoff } from '../../functions/backoff.ts';

export interface OutageView {
  /** When the next lookup through `dependency` may go out; undefined while it is believed up. */
  retryAt(dependency: Dependency): number | undefined;
}

export interface OutageBreaker extends IdentityResolver, OutageView {}

export interface OutageBreakerOptions {
  /** First probe interval; doubles (with jitter) up to `maxMs` while probes fail. */
  baseMs?: number;
  maxMs?: number;
  log: Log;
  now?: () => number;
  random?: () => number;
}

export const DEFAULT_PROBE_BASE_MS = 1000;
export const DEFAULT_PROBE_MAX_MS = 30_000;

/** The dependency a DID's document comes through. */
export function identityDependency(did: string): Dependency | undefined {
  if (did.startsWith('did:plc:')) return 'plc';
  if (did.startsWith('did:web:')) return 'dns';
  return undefined;
}

interface BreakerState {
  open: boolean;
  nextAt: number;
  /** The DID of the last outage while closed: a second DID failing next opens the breaker. */
  lastFailed?: string;
  /** The dependencies of the DIDs whose outages counted here (a did:plc lookup fails on DNS when the directory's own
   * name does not resolve): a lookup of any of them that succeeds shows the path works again, and closes this. */
  through: Set<Dependency>;
  delays: Backoff;
}

export function withOutageBreaker(inner: IdentityResolver, options: OutageBreakerOptions): OutageBreaker {
  const now = options.now ?? Date.now;
  const states = new Map<Dependency, BreakerState>();
  const state = (dep: Dependency): BreakerState => {
    let s = states.get(dep);
    if (s === undefined) {
      const delays = createBackoff({ baseMs: options.baseMs ?? DEFAULT_PROBE_BASE_MS, maxMs: options.maxMs ?? DEFAULT_PROBE_MAX_MS, jitter: 'equal', ...(options.random === undefined ? {} : { random: options.random }) });
      s = { open: false, nextAt: 0, through: new Set(), delays };
      states.set(dep, s);
    }
    return s;
  };

  const failed = (dep: Dependency, did: string) => {
    const s = state(dep);
    const kind = identityDependency(did);
    if (kind !== undefined) s.through.add(kind);
    if (s.open) return;
    if (s.lastFailed !== undefined && s.lastFailed !== did) {
      s.open = true;
      s.delays.reset();
      s.nextAt = now() + s.delays.next();
      options.log.warn('identity dependency down: lookups that miss the cache fail fast until a probe succeeds', { dependency: dep, probeAt: new Date(s.nextAt).toISOString() });
      return;
    }
    s.lastFailed = did;
  };

  const close = (dep: Dependency, s: BreakerState) => {
    if (s.open) options.log.info('identity dependency answers again', { dependency: dep });
    s.open = false;
    s.through.clear();
    delete s.lastFailed;
  };
  /** A lookup of a `kind` DID got an answer: its own state closes, and any its kind's outages opened or fed. */
  const succeeded = (kind: Dependency) => {
    close(kind, state(kind));
    for (const [dep, s] of states) if (dep !== kind && s.through.has(kind)) close(dep, s);
  };

  return {
    retryAt(dep) {
      const s = states.get(dep);
      return s?.open === true ? s.nextAt : undefined;
    },
    async resolve(did, resolveOptions): Promise<AtprotoIdentity> {
      const dep = identityDependency(did);
      if (dep !== undefined) {
        const s = state(dep);
        if (s.open) {
          if (now() < s.nextAt) throw new DependencyError(dep, `${dep} is down: ${did} not looked up before the next probe`, { did, probeAt: s.nextAt });
          // This lookup is the probe; the next one waits for the next interval.
          s.nextAt = now() + s.delays.next();
        }
      }
      try {
        const identity = await inner.resolve(did, resolveOptions);
        if (dep !== undefined) succeeded(dep);
        return identity;
      } catch (err) {
        const outage = dependencyErrorIn(err);
        if (outage !== undefined) failed(outage.dependency, did);
        // A verdict (no such DID, a tombstone, a bad document, a did:web host of its own that fails) is an answer: the
        // dependency is up, and an open breaker closes as on a success (it stayed open, backing off, for every probe
        // that met a verdict).
        else if (dep !== undefined && !(err instanceof SkytideError && err.reason === 'invalid_syntax')) succeeded(dep);
        throw err;
      }
    },
  };
}
