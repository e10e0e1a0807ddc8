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
    if (did === plcDid('wrongid')) return void res.writeHead(200).end(JSON.stringify({ id: plcDid('someoneelse') }));
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

  it('rejects a document about another DID, with a reason', async () => {
    const resolver = createIdentityResolver({ fetch: globalThis.fetch, plcUrl: plc });
    await expect(resolver.resolve(plcDid('wrongid'))).rejects.toMatchObject({ reason: 'identity_failed' });
  });
});
