// A lease in Redis: one holder at a time for a named piece of work (a sweep of one host). Promises:
// - acquiring is SET NX PX: it succeeds for exactly one caller while the key lives;
// - the value is the holder's name plus a random token, and renewing, releasing and writing under the lease compare
//   it first, inside one script: nobody who does not hold the lease can extend it, release it or write under it;
// - a holder that crashes stops renewing, and the key expires after its TTL: the work is free again;
// - `keepLease` renews every third of the TTL and reports the lease lost (an AbortSignal) when a renewal finds
//   another value, or when no renewal has succeeded for a whole TTL (Redis unreachable: it may have expired).
// Writes that must not land after the lease is lost go through `appendUnderLease`, which checks the token and
// writes in the same script, so a holder that paused past its TTL cannot queue work twice. A subscription's batches
// (one relay's or labeler's, long-runners/subscription) begin with `leaseGuardOp` instead: the batch script stops at
// it, nothing written, when the lease is no longer the writer's.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Log } from '../../functions/ports.ts';
import { describeError } from '../../functions/errors.ts';
import { KEY_TYPES_LUA } from './lua/key-types.ts';
import { refuseWrongType, type BatchOp } from './stream-writer.ts';
import type { RedisScript } from './scripts.ts';

export interface Lease {
  key: string;
  /** The stored value: `<holder> <random token>`. */
  value: string;
  ttlMs: number;
}

export type Acquired = { acquired: true; lease: Lease } | { acquired: false; holder: string | null };

export const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
export const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;
// KEYS: lease, stream, cursor key, set key. ARGV: lease value, cursor value, set member ('' for none), field name,
// then one field value per entry. XADD never trims (see stream-writer.ts). A key of another type than the write
// needs is refused before anything is written (lua/key-types.ts): else the entries would land without the cursor,
// and the page be queued again.
export const APPEND = `${KEY_TYPES_LUA}
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local refused = refusedType(KEYS[3], 'string')
if not refused and #ARGV >= 5 then refused = refusedType(KEYS[2], 'stream') end
if not refused and ARGV[3] ~= '' then refused = refusedType(KEYS[4], 'set') end
if refused then return refused end
for i = 5, #ARGV do redis.call('XADD', KEYS[2], '*', ARGV[4], ARGV[i]) end
if ARGV[3] ~= '' then redis.call('SADD', KEYS[4], ARGV[3]) end
redis.call('SET', KEYS[3], ARGV[2])
return 1`;
// KEYS: lease, stream, set key. ARGV: lease value, field name, members removed (n), members added (m), then n removed,
// m added, then one field value per entry. The skipped ranges' changes, with the entries of a retried range's page,
// under the lease as the pages are; removed before added, so a range replaced by itself stays. Keys of another type
// are refused first, as in APPEND.
export const AMEND = `${KEY_TYPES_LUA}
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local removed = tonumber(ARGV[3])
local added = tonumber(ARGV[4])
local refused = refusedType(KEYS[3], 'set')
if not refused and #ARGV >= 5 + removed + added then refused = refusedType(KEYS[2], 'stream') end
if refused then return refused end
for i = 5 + removed + added, #ARGV do redis.call('XADD', KEYS[2], '*', ARGV[2], ARGV[i]) end
for i = 5, 4 + removed do redis.call('SREM', KEYS[3], ARGV[i]) end
for i = 5 + removed, 4 + removed + added do redis.call('SADD', KEYS[3], ARGV[i]) end
return 1`;

/** The error code LEASE_GUARD answers with (written out in its Lua): the once-batch script stops at it (GUARD_CODES). */
export const LEASE_LOST_CODE = 'LEASELOST';

/**
 * KEYS[1] = a lease, ARGV[1] = the value its holder stored. The first step of a batch written under the lease: when
 * the lease holds another value (taken over) or none (expired), an error reply that ends the batch script before any
 * write (a holder that paused past its TTL, its batch in flight, writes nothing beside the new holder).
 */
export const LEASE_GUARD: RedisScript = {
  name: 'skytideLeaseGuard',
  numberOfKeys: 1,
  keyTypes: ['string'],
  lua: `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('LEASELOST ' .. KEYS[1] .. ' is not held by this writer') end
return 1
`,
};

/** The batch op that refuses the batch, nothing written, unless `lease` is still held with its value. */
export function leaseGuardOp(lease: Lease): BatchOp {
  return { kind: 'script', script: LEASE_GUARD, keys: [lease.key], args: [lease.value] };
}

/** Whether `err` (or its cause) is a batch refused by LEASE_GUARD. */
export function leaseLostIn(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e.message.startsWith(`${LEASE_LOST_CODE} `)) return true;
  }
  return false;
}

/** The readable part of a lease value: who holds it. */
export function holderOf(value: string | null): string | null {
  if (value === null) return null;
  const space = value.lastIndexOf(' ');
  return space === -1 ? value : value.slice(0, space);
}

export async function acquireLease(redis: Redis, key: string, holder: string, ttlMs: number): Promise<Acquired> {
  const value = `${holder} ${randomUUID()}`;
  if ((await redis.set(key, value, 'PX', ttlMs, 'NX')) === 'OK') return { acquired: true, lease: { key, value, ttlMs } };
  return { acquired: false, holder: holderOf(await redis.get(key)) };
}

/** Extends the lease by its TTL if it is still ours; false when it expired or someone else holds it now. */
export async function renewLease(redis: Redis, lease: Lease): Promise<boolean> {
  return Number(await redis.eval(RENEW, 1, lease.key, lease.value, lease.ttlMs)) === 1;
}

/** Deletes the lease if it is still ours; someone else's lease is left alone. */
export async function releaseLease(redis: Redis, lease: Lease): Promise<boolean> {
  return Number(await redis.eval(RELEASE, 1, lease.key, lease.value)) === 1;
}

export interface LeasedAppend {
  stream: string;
  field: string;
  values: readonly string[];
  cursor: { key: string; value: string };
  /** A member added to a set in the same write (a skipped page's range). */
  setAdd?: { key: string; member: string };
}

/** XADDs the entries and sets the cursor in one script, only while `lease` is held; false (nothing written) if not. */
export async function appendUnderLease(redis: Redis, lease: Lease, write: LeasedAppend): Promise<boolean> {
  const setKey = write.setAdd?.key ?? write.cursor.key;
  const written: unknown = await redis.eval(APPEND, 4, lease.key, write.stream, write.cursor.key, setKey, lease.value, write.cursor.value, write.setAdd?.member ?? '', write.field, ...write.values);
  refuseWrongType(`append to ${write.stream} under lease`, written);
  return Number(written) === 1;
}

export interface LeasedAmend {
  stream: string;
  field: string;
  values: readonly string[];
  set: { key: string; remove: readonly string[]; add: readonly string[] };
}

/** XADDs the entries and changes the set's members in one script, only while `lease` is held; false (nothing written) if not. */
export async function amendUnderLease(redis: Redis, lease: Lease, write: LeasedAmend): Promise<boolean> {
  const { remove, add } = write.set;
  const written: unknown = await redis.eval(AMEND, 3, lease.key, write.stream, write.set.key, lease.value, write.field, remove.length, add.length, ...remove, ...add, ...write.values);
  refuseWrongType(`amend ${write.set.key} under lease`, written);
  return Number(written) === 1;
}

export interface KeptLease {
  lease: Lease;
  /** Aborts when the lease is lost; its reason says how. */
  lost: AbortSignal;
  /** Stops renewing and releases the lease if it is still ours. */
  release(): Promise<void>;
}

export function keepLease(redis: Redis, lease: Lease, log: Log, clock: () => number = Date.now): KeptLease {
  const controller = new AbortController();
  let renewedAt = clock();
  let inFlight = false;
  let released = false;
  const lose = (why: string) => {
    if (released || controller.signal.aborted) return;
    log.error('lease lost', { key: lease.key, why });
    controller.abort(new Error(`lease ${lease.key} lost: ${why}`));
    clearInterval(timer);
  };
  const tick = () => {
    if (clock() - renewedAt >= lease.ttlMs) return lose(`not renewed for ${lease.ttlMs} ms`);
    if (inFlight) return;
    inFlight = true;
    renewLease(redis, lease).then(
      (ours) => {
        inFlight = false;
        if (released) return;
        if (ours) renewedAt = clock();
        else lose('held by someone else or expired');
      },
      (err: unknown) => {
        inFlight = false;
        log.warn('lease renewal failed', { key: lease.key, err: describeError(err) });
      },
    );
  };
  const timer = setInterval(tick, Math.max(1, Math.floor(lease.ttlMs / 3)));
  timer.unref();
  return {
    lease,
    lost: controller.signal,
    async release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      if (controller.signal.aborted) return;
      try {
        await releaseLease(redis, lease);
      } catch (err) {
        // It expires on its own after its TTL; the next holder waits at most that long.
        log.warn('lease release failed', { key: lease.key, err: describeError(err) });
      }
    },
  };
}
