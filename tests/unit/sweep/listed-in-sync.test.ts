// The one decision both sweepers and the backfill's shortcut make: a listed repo is in sync only at the held rev and in
// the held account state (a missing `active` meaning active; an inactive listing without a status matching any).
import { describe, expect, it } from 'vitest';
import { listedInSync, sameAccountState } from '../../../functions/listed-in-sync.ts';
import { collectionsKept, keptAllOf, parseEventFilter, type EventFilter } from '../../../functions/event-filter.ts';

function filterOf(collections: string[]): EventFilter {
  const parsed = parseEventFilter({ collections });
  if (!parsed.ok) throw new Error(parsed.problems.join('; '));
  return parsed.filter;
}

const active = { rev: 'r1', synchronized: true, active: true, status: null };
const takendown = { rev: 'r1', synchronized: true, active: false, status: 'takendown' };

describe('listedInSync', () => {
  it('is not held at its rev when synchronized under a narrower collection filter than today\'s (widened since)', () => {
    const postsOnly = { ...active, collections: 'app.bsky.feed.post' };
    expect(listedInSync({ rev: 'r1' }, postsOnly, { filter: filterOf(['app.bsky.feed.post']) })).toBe(true);
    expect(listedInSync({ rev: 'r1' }, postsOnly, { filter: filterOf(['app.bsky.feed.post', 'app.bsky.feed.like']) })).toBe(false);
    expect(listedInSync({ rev: 'r1' }, postsOnly, { filter: filterOf([]) })).toBe(false);
    // Narrowed since, or synchronized under every collection (null: rows from before the column too): held.
    expect(listedInSync({ rev: 'r1' }, { ...active, collections: 'app.bsky.feed.like,app.bsky.feed.post' }, { filter: filterOf(['app.bsky.feed.post']) })).toBe(true);
    expect(listedInSync({ rev: 'r1' }, { ...active, collections: null }, { filter: filterOf(['app.bsky.feed.post']) })).toBe(true);
    // An inactive account held inactive stays held: its PDS refuses the repo whatever is kept.
    expect(listedInSync({ rev: 'r1', active: false, status: 'takendown' }, { ...takendown, collections: 'app.bsky.feed.post' }, { filter: filterOf([]) })).toBe(true);
  });

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

describe('the collection rule stored beside a synchronized repo', () => {
  it('is written sorted (null for every collection) and read back as what it kept', () => {
    expect(collectionsKept(filterOf([]))).toBeNull();
    expect(collectionsKept(filterOf(['app.bsky.graph.*', 'app.bsky.feed.post', 'app.bsky.feed.like']))).toBe('app.bsky.feed.like,app.bsky.feed.post,app.bsky.graph.*');
    const stored = collectionsKept(filterOf(['app.bsky.graph.*', 'app.bsky.feed.post']));
    expect(keptAllOf(stored, filterOf(['app.bsky.graph.follow', 'app.bsky.feed.post']))).toBe(true);
    expect(keptAllOf(stored, filterOf(['app.bsky.graph.list.*']))).toBe(true);
    expect(keptAllOf(stored, filterOf(['app.bsky.feed.like']))).toBe(false);
    expect(keptAllOf(stored, filterOf(['app.bsky.*']))).toBe(false);
    expect(keptAllOf(collectionsKept(filterOf(['app.bsky.graph.follow'])), filterOf(['app.bsky.graph.*']))).toBe(false);
    expect(keptAllOf(stored, filterOf([]))).toBe(false);
    expect(keptAllOf(null, filterOf([]))).toBe(true);
  });
});
