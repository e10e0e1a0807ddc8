// The one decision both sweepers and the backfill's shortcut make: a listed repo is in sync only at the held rev and in
// the held account state (a missing `active` meaning active; an inactive listing without a status matching any).
import { describe, expect, it } from 'vitest';
import { listedInSync, sameAccountState } from '../../../functions/listed-in-sync.ts';

const active = { rev: 'r1', synchronized: true, active: true, status: null };
const takendown = { rev: 'r1', synchronized: true, active: false, status: 'takendown' };

describe('listedInSync', () => {
  it('needs the held rev exactly, and a listed rev', () => {
    expect(listedInSync({ rev: 'r1', active: true }, active)).toBe(true);
    expect(listedInSync({ rev: 'r2', active: true }, active)).toBe(false);
    expect(listedInSync({ active: true }, active)).toBe(false);
    expect(listedInSync({ rev: 'r1', active: true }, undefined)).toBe(false);
  });

  it('needs the held account state: a takedown or reactivation at the same rev is out of sync', () => {
    expect(listedInSync({ rev: 'r1', active: false, status: 'takendown' }, active)).toBe(false);
    expect(listedInSync({ rev: 'r1', active: true }, takendown)).toBe(false);
    expect(listedInSync({ rev: 'r1', active: false, status: 'suspended' }, takendown)).toBe(false);
    expect(listedInSync({ rev: 'r1', active: false, status: 'Takendown' }, takendown)).toBe(true);
  });

  it('takes a relay-only status (desynchronized, throttled) as no claim about the account: no fetch every sweep', () => {
    // The PDS serves such a repo, so its backfill stores it active: were this out of sync, every sweep would fetch it.
    expect(listedInSync({ rev: 'r1', active: false, status: 'desynchronized' }, active)).toBe(true);
    expect(listedInSync({ rev: 'r1', active: false, status: 'throttled' }, active)).toBe(true);
    expect(listedInSync({ rev: 'r1', active: false, status: 'throttled' }, takendown)).toBe(true);
    expect(listedInSync({ rev: 'r2', active: false, status: 'throttled' }, active)).toBe(false);
  });
});

describe('an account listed inactive and held inactive in the same state', () => {
  // Its PDS refused its repo (RepoTakendown, RepoDeactivated: repo_sync desynchronized, no rev held), or the relay took
  // it down itself: a fetch would change nothing, and each sweep fetched every inactive account of the network again.
  const refused = { rev: null, synchronized: false, active: false, status: 'deactivated' };
  it('is in sync whatever the revs, unless the listing is a relay-only status', () => {
    expect(listedInSync({ rev: 'r9', active: false, status: 'deactivated' }, refused)).toBe(true);
    expect(listedInSync({ active: false }, refused)).toBe(true);
    expect(listedInSync({ rev: 'r9', active: false, status: 'takendown' }, { ...takendown, rev: 'r1' })).toBe(true);
    expect(listedInSync({ rev: 'r9', active: false, status: 'throttled' }, refused)).toBe(false);
  });

  it('is out of sync once either side differs: a reactivation, another status, or an account held active', () => {
    expect(listedInSync({ rev: 'r9', active: true }, refused)).toBe(false);
    expect(listedInSync({ rev: 'r9', active: false, status: 'takendown' }, refused)).toBe(false);
    expect(listedInSync({ rev: 'r9', active: false, status: 'deactivated' }, { ...active, synchronized: false })).toBe(false);
    // Active at the listed rev, but not synchronized (a download failed): fetched.
    expect(listedInSync({ rev: 'r1', active: true }, { ...active, synchronized: false })).toBe(false);
  });
});

describe('sameAccountState', () => {
  it('reads no `active` as active, and an inactive listing without a status as matching any inactive state', () => {
    expect(sameAccountState({}, { active: true, status: null })).toBe(true);
    expect(sameAccountState({}, { active: false, status: 'deactivated' })).toBe(false);
    expect(sameAccountState({ active: false }, { active: false, status: 'inactive' })).toBe(true);
    expect(sameAccountState({ active: false }, { active: true, status: null })).toBe(false);
    // A status beside `active: true` says nothing.
    expect(sameAccountState({ active: true, status: 'takendown' }, { active: true, status: null })).toBe(true);
  });
});
