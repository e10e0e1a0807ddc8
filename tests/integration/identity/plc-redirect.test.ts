// A PLC directory that answers with a redirect is not followed (a 3xx could lead anywhere): the DID's document is
// not had, which is an answer about that DID, not an outage. The resolver asks with redirect 'manual' (workerd
// refuses 'error'), so the 3xx comes back as a response and is refused here, under Node as under workerd.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createIdentityResolver } from '../../../adapters/identity/resolver.ts';
import { DependencyError, SkytideError } from '../../../functions/errors.ts';

let hits = 0;
const server = createServer((req, res) => {
  if (req.url === '/elsewhere') hits++;
  res.writeHead(302, { location: '/elsewhere' }).end();
});
beforeAll(() => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)));
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

it('refuses a redirect from the directory as identity_failed, without following it', async () => {
  const plcUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const resolver = createIdentityResolver({ fetch: globalThis.fetch, plcUrl, allowPrivate: true });
  const err = await resolver.resolve('did:plc:redirectredirectredirect').catch((e: unknown) => e);
  expect(err).toBeInstanceOf(SkytideError);
  expect(err).not.toBeInstanceOf(DependencyError);
  expect((err as SkytideError).reason).toBe('identity_failed');
  expect((err as SkytideError).message).toContain('HTTP 302');
  expect(hits).toBe(0);
});
