// The identity cache while Redis refuses writes (out of memory at maxmemory with noeviction; a read-only replica
// alike): an identity the directory answered is still the answer. Failing the lookup because it could not be stored
// turned an outage of Redis into the DID's own failure (a plain error is taken, on the live path, for its host not
// answering, and judged unverifiable after INGESTER_IDENTITY_DID_WAIT_MS; in a consumer, for a poison entry walking to
// the DLQ). On a redis-server of the test's own whose maxmemory is set below its use.
import { describe, expect, it } from 'vitest';
import { withRedisCache } from '../../../adapters/identity/redis-cache.ts';
import type { AtprotoIdentity, IdentityResolver } from '../../../functions/atproto/identity/did-document.ts';
import { silentLog } from '../../../functions/ports.ts';
import { useFullableRedis } from '../../helpers/fullable-redis.ts';
import { plcDid } from '../../helpers/dids.ts';

/** A redis-server of this file's own, put out of memory by the tests. */
const own = useFullableRedis();

describe('the identity cache while Redis refuses writes', () => {
  it('answers the identity the directory gave, uncached, and caches the next one once Redis takes writes', async () => {
    const did = plcDid('cacherefused');
    const identity: AtprotoIdentity = { did, signingKey: { curve: 'k256', bytes: new Uint8Array(33).fill(2) }, pds: 'https://pds.example.com' };
    let asked = 0;
    // The directory's answer (the resolver port), so that only the cache's own write is refused.
    const directory: IdentityResolver = { resolve: async () => (asked++, identity) };
    const cache = withRedisCache(directory, { redis: own.redis, log: silentLog });
    await own.redis.config('SET', 'maxmemory', '1');
    expect(await cache.resolve(did)).toEqual(identity);
    expect(await own.redis.exists(`identity:${did}`)).toBe(0);
    await own.redis.config('SET', 'maxmemory', '0');
    expect(await cache.resolve(did)).toEqual(identity);
    expect(await own.redis.exists(`identity:${did}`)).toBe(1);
    expect(asked).toBe(2);
  });
});
