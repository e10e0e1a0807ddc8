// The identity cache against real Redis, in front of a real resolver reading a PLC directory served on 127.0.0.1.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createIdentityResolver } from '../../../adapters/identity/resolver.ts';
import { IDENTITY_TTL_MS, withRedisCache } from '../../../adapters/identity/redis-cache.ts';
import { silentLog } from '../../../functions/ports.ts';
import { createTestRedis } from '../../helpers/services.ts';
import { waitFor } from '../../helpers/wait.ts';
import { plcDid } from '../../helpers/dids.ts';

const KEY_A = 'zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme';
const KEY_B = 'zQ3shtxV1FrJfhqE1dvxYRcCknWNjHc3c5X1y3ZSoPDi2aur2';
let currentKey = KEY_A;
let hits = 0;
/** What the directory answers instead of a document, per DID: a status, or 'other-id' for a document about another DID. */
const override = new Map<string, number | 'other-id'>();
let server: http.Server;
let plc: string;
let redis: Redis;
let prefix: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ redis, prefix, cleanup } = await createTestRedis('identity'));
  server = http.createServer((req, res) => {
    hits++;
    const path = (req.url ?? '/').slice(1);
    const did = path === '.well-known/did.json' ? `did:web:localhost%3A${(server.address() as AddressInfo).port}` : decodeURIComponent(path);
    if (did === plcDid('wrongid') || override.get(did) === 'other-id') return void res.writeHead(200).end(JSON.stringify({ id: plcDid('someoneelse') }));
    const status = override.get(did);
    if (typeof status === 'number') return void res.writeHead(status).end(JSON.stringify({ message: `DID not available: ${did}` }));
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
      id: did, alsoKnownAs: ['at://Alice.Test'],
      verificationMethod: [{ id: '#atproto', type: 'Multikey', controller: did, publicKeyMultibase: currentKey }],
      service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: 'https://pds.example.com/' }],
    }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  plc = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  await cleanup();
});

describe('identity resolution with a Redis cache', () => {
  it('resolves the key, the PDS and the claimed handle, then serves from Redis', async () => {
    const resolver = withRedisCache(createIdentityResolver({ fetch: globalThis.fetch, plcUrl: plc }), { redis, prefix, log: silentLog });
    hits = 0;
    const first = await resolver.resolve(plcDid('alice'));
    expect(first).toMatchObject({ did: plcDid('alice'), pds: 'https://pds.example.com', claimedHandle: 'alice.test', signingKey: { curve: 'k256' } });
    const second = await resolver.resolve(plcDid('alice'));
    expect(second).toEqual(first);
    expect(hits).toBe(1);
    expect(await redis.pttl(`${prefix}identity:${plcDid('alice')}`)).toBeGreaterThan(IDENTITY_TTL_MS - 24 * 3600_000);
  });

  it('serves a stale entry at once and refreshes it in the background; forceRefresh goes to the directory', async () => {
    let clock = 0;
    const resolver = withRedisCache(createIdentityResolver({ fetch: globalThis.fetch, plcUrl: plc }), { redis, prefix, log: silentLog, now: () => clock, staleAfterMs: 1000 });
    currentKey = KEY_A;
    const a = await resolver.resolve(plcDid('rotating'));
    currentKey = KEY_B;
    clock = 5000;
    expect(await resolver.resolve(plcDid('rotating'))).toEqual(a);
    await waitFor(() => resolver.resolve(plcDid('rotating')), (id) => id.signingKey.bytes[1] !== a.signingKey.bytes[1], 'background refresh');
    currentKey = KEY_A;
    expect((await resolver.resolve(plcDid('rotating'), { forceRefresh: true })).signingKey).toEqual(a.signingKey);
  });

  it('resolves did:web from /.well-known/did.json at the host, and refuses did:web with a path', async () => {
    const resolver = createIdentityResolver({ fetch: globalThis.fetch, plcUrl: plc, allowPrivate: true });
    const port = (server.address() as AddressInfo).port;
    const did = `did:web:localhost%3A${port}`;
    expect(await resolver.resolve(did)).toMatchObject({ did, pds: 'https://pds.example.com' });
    await expect(resolver.resolve('did:web:example.com:users:alice')).rejects.toMatchObject({ reason: 'identity_failed' });
  });

  it.each([
    ['tombstoned (410)', 410, 'tombstoned'],
    ['unknown to the directory (404)', 404, 'unknown'],
    ['now a document about another DID', 'other-id', 'otherid'],
  ] as const)('a refresh that finds the DID %s deletes its cached identity: no later read is served the old key', async (_name, answer, name) => {
    const did = plcDid(name);
    const resolver = withRedisCache(createIdentityResolver({ fetch: globalThis.fetch, plcUrl: plc }), { redis, prefix, log: silentLog });
    override.delete(did);
    await resolver.resolve(did);
    override.set(did, answer);
    await expect(resolver.resolve(did, { forceRefresh: true })).rejects.toMatchObject({ reason: 'identity_failed' });
    expect(await redis.exists(`${prefix}identity:${did}`)).toBe(0);
    await expect(resolver.resolve(did)).rejects.toMatchObject({ reason: 'identity_failed' });
  });

  it('a refresh that fails for an outage (the directory down, a did:web host not answering) keeps the cached identity', async () => {
    const resolver = withRedisCache(createIdentityResolver({ fetch: globalThis.fetch, plcUrl: plc, allowPrivate: true }), { redis, prefix, log: silentLog });
    const did = plcDid('outage');
    override.delete(did);
    const known = await resolver.resolve(did);
    override.set(did, 503);
    await expect(resolver.resolve(did, { forceRefresh: true })).rejects.toMatchObject({ name: 'DependencyError', dependency: 'plc' });
    expect(await resolver.resolve(did)).toEqual(known);
    // A did:web whose host answers, then stops answering (connection refused): that DID's own outage, not a verdict.
    const host = http.createServer((req, res) => {
      const web = `did:web:localhost%3A${(host.address() as AddressInfo).port}`;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
        id: web,
        verificationMethod: [{ id: '#atproto', type: 'Multikey', controller: web, publicKeyMultibase: KEY_A }],
        service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: 'https://pds.example.com' }],
      }));
    });
    await new Promise<void>((r) => host.listen(0, '127.0.0.1', () => r()));
    const web = `did:web:localhost%3A${(host.address() as AddressInfo).port}`;
    const webKnown = await resolver.resolve(web);
    host.closeAllConnections();
    await new Promise((r) => host.close(r));
    await expect(resolver.resolve(web, { forceRefresh: true })).rejects.toMatchObject({ name: 'DidHostUnavailableError' });
    expect(await resolver.resolve(web)).toEqual(webKnown);
  });

  it('forget (an #identity) deletes the entry, so the next read asks the directory; a fetch running when it was forgotten is not stored', async () => {
    const did = plcDid('forgotten');
    const resolver = withRedisCache(createIdentityResolver({ fetch: globalThis.fetch, plcUrl: plc }), { redis, prefix, log: silentLog });
    currentKey = KEY_A;
    const a = await resolver.resolve(did);
    currentKey = KEY_B;
    expect(await resolver.resolve(did)).toEqual(a);
    await resolver.forget!(did);
    expect(await redis.exists(`${prefix}identity:${did}`)).toBe(0);
    const b = await resolver.resolve(did);
    expect(b.signingKey).not.toEqual(a.signingKey);
    // A refresh that read the document before the #identity: its answer goes to its caller, not into the cache.
    currentKey = KEY_A;
    const before = resolver.resolve(did, { forceRefresh: true });
    await resolver.forget!(did);
    expect((await before).signingKey).toEqual(a.signingKey);
    expect(await redis.exists(`${prefix}identity:${did}`)).toBe(0);
    currentKey = KEY_B;
    expect((await resolver.resolve(did)).signingKey).toEqual(b.signingKey);
  });

  it('a forced refresh never joins a fetch that started before it: it reads the document afresh, and its answer is stored', async () => {
    const did = plcDid('forcedjoin');
    let release: () => void = () => {};
    const held = new Promise<void>((r) => (release = r));
    let calls = 0;
    // The first fetch reads the old document, then hangs; the document changes (an #identity) meanwhile.
    const inner = createIdentityResolver({ fetch: globalThis.fetch, plcUrl: plc });
    const slowFirst = {
      resolve: async (d: string, o?: { forceRefresh?: boolean }) => {
        const n = ++calls;
        const identity = await inner.resolve(d, o);
        if (n === 1) await held;
        return identity;
      },
    };
    const resolver = withRedisCache(slowFirst, { redis, prefix, log: silentLog });
    currentKey = KEY_A;
    const miss = resolver.resolve(did);
    await waitFor(async () => calls, (n) => n === 1, 'the first fetch started');
    currentKey = KEY_B;
    const forced = await resolver.resolve(did, { forceRefresh: true });
    release();
    const old = await miss;
    expect(forced.signingKey).not.toEqual(old.signingKey);
    // The forced answer is what the cache holds: the older fetch, overtaken, stored nothing.
    expect((await resolver.resolve(did)).signingKey).toEqual(forced.signingKey);
  });

  it('rejects a document about another DID, with a reason', async () => {
    const resolver = createIdentityResolver({ fetch: globalThis.fetch, plcUrl: plc });
    await expect(resolver.resolve(plcDid('wrongid'))).rejects.toMatchObject({ reason: 'identity_failed' });
  });
});
