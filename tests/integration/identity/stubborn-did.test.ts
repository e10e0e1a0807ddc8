// A did:plc the PLC directory keeps failing for (HTTP 500 for that DID alone) while it answers others: every lookup
// was a `plc` outage, and a consumer waits an outage out with its whole batch, so one such label held the label loop
// for ever and one such repo a backfill loop. After a run of outages long enough, with the directory answering
// another DID meanwhile, the lookup fails as the DID's own (identity_failed). A real outage, every DID failing, stays
// an outage however long it lasts. Against a PLC directory on 127.0.0.1 that fails one DID on demand.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createIdentityResolver } from '../../../adapters/identity/resolver.ts';
import { withStubbornDidCheck } from '../../../adapters/identity/stubborn-did.ts';
import { silentLog } from '../../../functions/ports.ts';
import { dependencyErrorIn } from '../../../functions/errors.ts';
import { startFakePlc, type FakePlc } from '../../helpers/fake-plc.ts';
import { repoDoc } from '../../helpers/fake-pds.ts';
import { plcDid } from '../../helpers/dids.ts';

const BROKEN = plcDid('stubbornbroken');
const GOOD = plcDid('stubborngood');
const KEY = 'did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme';
let plc: FakePlc;
let clock = 0;

beforeAll(async () => {
  plc = await startFakePlc();
  for (const did of [BROKEN, GOOD]) plc.set(did, repoDoc(did, KEY, 'https://pds.example.com'));
});
afterAll(() => plc.close());
beforeEach(() => {
  clock = Date.parse('2026-12-07T00:00:00Z');
  plc.down = false;
  plc.failing.clear();
});

const resolver = () =>
  withStubbornDidCheck(createIdentityResolver({ fetch: globalThis.fetch, plcUrl: plc.url }), { log: silentLog, minSpanMs: 60_000, minFailures: 3, askEveryMs: 1_000, now: () => clock });
// As the callers judge it: an outage anywhere in the cause chain is one (dependencyErrorIn), whatever is thrown.
const outcome = (p: Promise<unknown>) => p.then(() => 'resolved', (err: { name?: string; reason?: string }) => {
  const outage = dependencyErrorIn(err);
  return outage === undefined ? `${err.name}:${err.reason}` : `DependencyError:${outage.dependency}`;
});

describe('a DID the PLC directory keeps failing for', () => {
  it('is an outage until its run of failures is long enough and the directory answered another DID, then its own failure', async () => {
    const r = resolver();
    await r.resolve(GOOD);
    plc.failing.set(BROKEN, 500);
    expect(await outcome(r.resolve(BROKEN))).toBe('DependencyError:plc');
    clock += 30_000;
    expect(await outcome(r.resolve(BROKEN))).toBe('DependencyError:plc');
    expect(await outcome(r.resolve(BROKEN))).toBe('DependencyError:plc');
    // Three failures, but within a minute: still an outage.
    clock += 31_000;
    // A minute and three failures: the directory is asked for the DID it resolved last (GOOD), answers, and the
    // failure is the DID's own.
    expect(await outcome(r.resolve(BROKEN))).toBe('SkytideError:identity_failed');
    expect(plc.requests.get(GOOD)).toBe(2);
    // Fixed on the directory's side: resolved, and its count starts over.
    plc.failing.clear();
    expect(await outcome(r.resolve(BROKEN))).toBe('resolved');
    plc.failing.set(BROKEN, 500);
    expect(await outcome(r.resolve(BROKEN))).toBe('DependencyError:plc');
  });

  it('stays an outage while the directory fails every DID, however long', async () => {
    const r = resolver();
    await r.resolve(GOOD);
    plc.down = true;
    for (let i = 0; i < 6; i++) {
      expect(await outcome(r.resolve(BROKEN))).toBe('DependencyError:plc');
      clock += 30_000;
    }
    plc.down = false;
    expect(await outcome(r.resolve(BROKEN))).toBe('resolved');
  });

  it('stays an outage when nothing shows the directory answers (no other DID resolved in this process)', async () => {
    const r = resolver();
    plc.failing.set(BROKEN, 500);
    for (let i = 0; i < 5; i++) {
      expect(await outcome(r.resolve(BROKEN))).toBe('DependencyError:plc');
      clock += 30_000;
    }
    // Another DID answers: from then on, the run is the DID's own.
    await r.resolve(GOOD);
    expect(await outcome(r.resolve(BROKEN))).toBe('SkytideError:identity_failed');
  });
});
