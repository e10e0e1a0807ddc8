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
import { startLostReplyProxy } from '../../helpers/lost-reply-proxy.ts';
import { createRedis } from '../../../adapters/redis/client.ts';

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

  it('forgets a DID while Redis is read-only without throwing, and serves no cached entry for it until one is stored', async () => {
    // A failover left the client on a replica: the DEL of an #identity's forget was refused, the ReplyError ended the
    // firehose task, and after each restart the same #identity at the cursor ended it again.
    const did = plcDid('cachereadonly');
    const old: AtprotoIdentity = { did, signingKey: { curve: 'k256', bytes: new Uint8Array(33).fill(2) }, pds: 'https://pds.example.com' };
    const rotated: AtprotoIdentity = { ...old, signingKey: { curve: 'k256', bytes: new Uint8Array(33).fill(3) } };
    let answer = old;
    let asked = 0;
    const cache = withRedisCache({ resolve: async () => (asked++, answer) }, { redis: own.redis, log: silentLog });
    expect(await cache.resolve(did)).toEqual(old);
    answer = rotated;
    // A replica of a master that is not there: read-only, its data kept.
    await own.redis.replicaof('127.0.0.1', 1);
    try {
      await expect(cache.forget!(did)).resolves.toBeUndefined();
      expect(await own.redis.exists(`identity:${did}`)).toBe(1);
      // The entry Redis kept is not served: the directory is asked, each time until an answer is stored.
      expect(await cache.resolve(did)).toEqual(rotated);
      expect(await cache.resolve(did)).toEqual(rotated);
      expect(asked).toBe(3);
    } finally {
      await own.redis.replicaof('NO', 'ONE');
    }
    expect(await cache.resolve(did)).toEqual(rotated);
    expect(asked).toBe(4);
    // Stored again: served from the cache from now on.
    expect(await cache.resolve(did)).toEqual(rotated);
    expect(asked).toBe(4);
  });

  it('answers from the directory when Redis does not answer at all, instead of waiting for it to come back', async () => {
    // Its client waits out an outage: with Redis gone silent every lookup hung until Redis returned, and with it a
    // reprocess or a function call over HTTP. A read that is late is a miss; a write or delete lands when Redis is back.
    const proxy = await startLostReplyProxy({ host: '127.0.0.1', port: Number(new URL(own.server.url).port) });
    const client = createRedis({ url: proxy.url, log: silentLog, socketTimeoutMs: 60_000 });
    try {
      await client.ping();
      const did = plcDid('cachesilent');
      const identity: AtprotoIdentity = { did, signingKey: { curve: 'k256', bytes: new Uint8Array(33).fill(2) }, pds: 'https://pds.example.com' };
      let asked = 0;
      const cache = withRedisCache({ resolve: async () => (asked++, identity) }, { redis: client, log: silentLog, redisDeadlineMs: 200 });
      expect(proxy.blackhole('both')).toBeGreaterThan(0);
      expect(await cache.resolve(did)).toEqual(identity);
      await expect(cache.forget!(did)).resolves.toBeUndefined();
      expect(await cache.resolve(did)).toEqual(identity);
      expect(asked).toBe(2);
    } finally {
      client.disconnect();
      await proxy.close();
    }
  }, 20_000);
});
