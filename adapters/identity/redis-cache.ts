// A Redis cache in front of an IdentityResolver, shared by every process: `identity:<did>` holds the resolved
// identity as JSON with the time it was fetched, expiring after 7 days. Entries older than 6 hours are served as
// they are while a refresh runs in the background (stale-while-revalidate); `forceRefresh` (a signature that failed,
// an #identity event) bypasses the cache, and `forget` (the firehose's #identity) deletes the entry, so the next read
// asks the directory and a fetch already running when it was forgotten is not stored. A refresh that ends in a verdict on the DID (no such DID, tombstoned, an
// unusable document) deletes the entry; one that fails for an outage leaves it. Concurrent misses for one DID share
// one fetch; a forced refresh never joins one that started before it (which may have read the document before the
// change the refresh is for). An answer Redis refuses to store (out of memory, read-only) is still the answer, returned uncached;
// a delete it refuses leaves the entry bypassed by this process until an answer is stored in its place.
import type { Redis } from 'ioredis';
import type { Log } from '../../functions/ports.ts';
import { dependencyErrorIn, describeError, SkytideError } from '../../functions/errors.ts';
import { DidHostUnavailableError, type AtprotoIdentity, type IdentityResolver } from '../../functions/atproto/identity/did-document.ts';
import type { PublicKey } from '../../functions/atproto/crypto/keys.ts';
import { writeRefusal } from '../redis/write-refusal.ts';
import { DeadlineError, withDeadline } from '../http/deadline.ts';

/**
 * Default age (6 hours) past which a cached identity is still served, but refreshed in the background by that read:
 * a rotated key or a moved PDS is picked up even when no #identity event says so.
 */
export const IDENTITY_STALE_AFTER_MS = 6 * 3600_000;
/** Default lifetime (7 days) of a cached identity in Redis from when it was fetched; after it, a read resolves afresh. */
export const IDENTITY_TTL_MS = 7 * 24 * 3600_000;

export interface IdentityCacheOptions {
  redis: Redis;
  prefix?: string;
  /** IDENTITY_STALE_AFTER_MS when absent. */
  staleAfterMs?: number;
  /** IDENTITY_TTL_MS when absent. */
  ttlMs?: number;
  log: Log;
  now?: () => number;
  /** How long a read, write or delete of the cache may wait for Redis (IDENTITY_CACHE_DEADLINE_MS when absent). */
  redisDeadlineMs?: number;
}

/**
 * How long the cache waits for Redis before going on without it. Its client waits out an outage (each command for
 * the reconnect), so with Redis down every lookup hung until it came back: a reprocess or a function call over HTTP
 * answered after the outage, not with anything during it. A cache is not needed to answer: a read is then a miss,
 * a write or delete is left to land when Redis is back (a delete's DID is bypassed here meanwhile).
 */
export const IDENTITY_CACHE_DEADLINE_MS = 2000;

interface Stored {
  identity: Omit<AtprotoIdentity, 'signingKey' | 'labelKey'> & { signingKey: StoredKey; labelKey?: StoredKey };
  updatedAt: number;
}
type StoredKey = { curve: PublicKey['curve']; hex: string };

const toStored = (k: PublicKey): StoredKey => ({ curve: k.curve, hex: Buffer.from(k.bytes).toString('hex') });
const fromStored = (k: StoredKey): PublicKey => ({ curve: k.curve, bytes: new Uint8Array(Buffer.from(k.hex, 'hex')) });

function encode(identity: AtprotoIdentity, now: number): string {
  const { signingKey, labelKey, ...rest } = identity;
  const stored: Stored = { identity: { ...rest, signingKey: toStored(signingKey), ...(labelKey === undefined ? {} : { labelKey: toStored(labelKey) }) }, updatedAt: now };
  return JSON.stringify(stored);
}

function decode(text: string): { identity: AtprotoIdentity; updatedAt: number } | undefined {
  try {
    const stored = JSON.parse(text) as Stored;
    const { signingKey, labelKey, ...rest } = stored.identity;
    const identity: AtprotoIdentity = { ...rest, signingKey: fromStored(signingKey) };
    if (labelKey !== undefined) identity.labelKey = fromStored(labelKey);
    return { identity, updatedAt: stored.updatedAt };
  } catch {
    return undefined;
  }
}

/** An answer about the DID itself, as opposed to not getting one (an outage, its did:web host not answering). */
function isVerdict(err: unknown): boolean {
  return err instanceof SkytideError && !(err instanceof DidHostUnavailableError) && dependencyErrorIn(err) === undefined;
}

/** A cache operation Redis did not answer in time. */
const LATE = Symbol('late');

export function withRedisCache(inner: IdentityResolver, options: IdentityCacheOptions): IdentityResolver {
  const staleAfter = options.staleAfterMs ?? IDENTITY_STALE_AFTER_MS;
  const ttl = options.ttlMs ?? IDENTITY_TTL_MS;
  const now = options.now ?? Date.now;
  const key = (did: string) => `${options.prefix ?? ''}identity:${did}`;
  const inflight = new Map<string, Promise<AtprotoIdentity>>();
  let unstored = 0;
  let unanswered = 0;
  const deadlineMs = options.redisDeadlineMs ?? IDENTITY_CACHE_DEADLINE_MS;
  /** `work`, or undefined once Redis has not answered within the deadline (logged: the 1st, 10th, 100th...). */
  const inTime = async <T>(work: Promise<T>, did: string, what: string): Promise<T | typeof LATE> => {
    try {
      return await withDeadline(work, deadlineMs, `redis (identity cache ${what})`);
    } catch (err) {
      if (!(err instanceof DeadlineError)) throw err;
      // Seen later, when Redis answers or refuses: never an unhandled rejection.
      work.catch(() => {});
      if (Number.isInteger(Math.log10(++unanswered))) options.log.warn('redis does not answer: identity looked up without the cache', { did, what, unanswered, deadlineMs });
      return LATE;
    }
  };
  /**
   * DIDs whose cached entry should be gone but Redis refused the DEL (a read-only replica, out of memory): never read
   * from the cache here until an answer is stored in its place. Bounded by the #identity frames and verdicts met while
   * Redis refuses writes, when the subscription's batches wait too.
   */
  const undeleted = new Set<string>();
  /**
   * Drops the DID's cached entry. A refusal is not the caller's failure (an #identity frame ended the firehose task,
   * and again after each restart): the entry is bypassed instead, and the refusal logged (the 1st, 10th, 100th...).
   */
  const drop = async (did: string): Promise<void> => {
    try {
      if ((await inTime(options.redis.del(key(did)), did, 'delete')) === LATE) undeleted.add(did);
      else undeleted.delete(did);
    } catch (err) {
      const refusal = writeRefusal(err);
      if (refusal === undefined) throw err;
      undeleted.add(did);
      if (Number.isInteger(Math.log10(++unstored))) options.log.warn('redis refuses writes: identity bypassed in the cache', { did, unstored, err: refusal });
    }
  };
  /**
   * Caches an identity the directory answered. Redis refusing the write (out of memory, a read-only replica) does not
   * undo the answer: it is returned uncached, and the refusal logged (the 1st, 10th, 100th...). Failing the lookup
   * would make Redis's outage the DID's failure: a plain error is taken for the DID's own host not answering.
   */
  const store = async (did: string, identity: AtprotoIdentity): Promise<void> => {
    try {
      if ((await inTime(options.redis.set(key(did), encode(identity, now()), 'PX', ttl), did, 'write')) !== LATE) undeleted.delete(did);
    } catch (err) {
      const refusal = writeRefusal(err);
      if (refusal === undefined) throw err;
      if (Number.isInteger(Math.log10(++unstored))) options.log.warn('redis refuses writes: identity answered uncached', { did, unstored, err: refusal });
    }
  };

  /**
   * The DID's document fetched afresh. A read that misses the cache joins a fetch already running; a forced refresh
   * (`fresh`: an #identity, a signature that failed) never does, since that fetch may have read the document before
   * the change that asked for the refresh: it starts its own, which stands in for the older one (stored in its place).
   */
  const refresh = (did: string, fresh = false): Promise<AtprotoIdentity> => {
    let p = fresh ? undefined : inflight.get(did);
    if (p === undefined) {
      const fetching: Promise<AtprotoIdentity> = inner
        .resolve(did, { forceRefresh: true })
        .then(
          async (identity) => {
            // A fetch the DID was forgotten during may have read the document before it changed: not stored.
            if (inflight.get(did) === fetching) await store(did, identity);
            return identity;
          },
          async (err: unknown) => {
            // A verdict (tombstoned, unknown to the directory, a document about another DID) ends the cached identity:
            // served on, a retired key would keep verifying for days. An outage, or a did:web host that did not
            // answer, says nothing of the DID: the entry stays and keeps being served.
            if (isVerdict(err)) await drop(did);
            throw err;
          },
        )
        .finally(() => {
          if (inflight.get(did) === fetching) inflight.delete(did);
        });
      p = fetching;
      inflight.set(did, p);
    }
    return p;
  };

  return {
    async resolve(did, resolveOptions) {
      if (resolveOptions?.forceRefresh !== true && !undeleted.has(did)) {
        const text = await inTime(options.redis.get(key(did)), did, 'read');
        const hit = text === null || text === LATE ? undefined : decode(text);
        if (hit !== undefined) {
          if (now() - hit.updatedAt > staleAfter) {
            refresh(did).catch((err) => options.log.warn('identity refresh failed', { did, err: describeError(err) }));
          }
          return hit.identity;
        }
      }
      return refresh(did, resolveOptions?.forceRefresh === true);
    },

    async forget(did) {
      inflight.delete(did);
      await drop(did);
    },
  };
}
