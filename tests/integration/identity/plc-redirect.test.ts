// A PLC directory that answers with a redirect is not followed (a 3xx could lead anywhere), and it is no verdict on
// the DID either: the directory (or a proxy in front of it) misbehaves, an outage of a dependency, as a 5xx is. The
// resolver asks with redirect 'manual' (workerd refuses 'error'), so the 3xx comes back as a response and is taken
// for DependencyError('plc') here, under Node as under workerd: the lookup is waited out and asked again, and the
// DID never gets `identity_failed` for the directory's fault.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIdentityResolver } from '../../../adapters/identity/resolver.ts';
import { DependencyError } from '../../../functions/errors.ts';
import { startFakePlc, type FakePlc } from '../../helpers/fake-plc.ts';

const DID = 'did:plc:redirectredirectredirect';
const DOC = {
  '@context': ['https://www.w3.org/ns/did/v1'], id: DID, alsoKnownAs: ['at://redirect.test'],
  verificationMethod: [{ id: `${DID}#atproto`, type: 'Multikey', controller: DID, publicKeyMultibase: 'zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF' }],
  service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: 'https://pds.example.com' }],
};

let plc: FakePlc;
beforeAll(async () => {
  plc = await startFakePlc();
  plc.set(DID, DOC);
});
afterAll(() => plc.close());

describe('a redirect from the PLC directory is an outage of the directory, not a verdict on the DID', () => {
  it.each([301, 302, 307, 308])('HTTP %i: DependencyError(plc), the redirect not followed', async (status) => {
    plc.redirect = status;
    const resolver = createIdentityResolver({ fetch: globalThis.fetch, plcUrl: plc.url, allowPrivate: true });
    const err = await resolver.resolve(DID).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DependencyError);
    expect((err as DependencyError).dependency).toBe('plc');
    expect((err as DependencyError).message).toContain(`HTTP ${status}`);
    expect(plc.requests.get(`moved/${DID}`)).toBeUndefined();
  });

  it('asked again once the directory stops redirecting, the DID resolves', async () => {
    plc.redirect = 302;
    const resolver = createIdentityResolver({ fetch: globalThis.fetch, plcUrl: plc.url, allowPrivate: true });
    await expect(resolver.resolve(DID)).rejects.toBeInstanceOf(DependencyError);
    plc.redirect = undefined;
    expect((await resolver.resolve(DID)).did).toBe(DID);
  });
});
