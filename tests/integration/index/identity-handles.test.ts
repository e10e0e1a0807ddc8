// The last verified handle survives a transient failure (issue 8, item 6): a PLC or DNS outage during an #identity
// keeps the stored handle, queues a `handle_unverified` follow-up, never stalls the batch past its deadline, and the
// follow-up (an identity-only pass of backfill-repo) waits the outage out and then verifies. Only a definite answer
// (another DID, or nowhere) clears a handle.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { indexBatch, type IndexPorts } from '../../../functions/index/handler.ts';
import { backfillRepos, type BackfillPorts } from '../../../functions/backfill-repo/handler.ts';
import type { AtprotoIdentity, IdentityResolver } from '../../../functions/atproto/identity/did-document.ts';
import type { HandleResolver } from '../../../functions/atproto/identity/handle.ts';
import { DependencyError, SkytideError } from '../../../functions/errors.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { identity, post, write } from '../../helpers/events.ts';
import { checkRows } from '../../../functions/sql-rows.ts';

const ALICE = 'did:plc:alice00000000000000000000';
const BOB = 'did:plc:bob0000000000000000000000';
const KEY = { curve: 'k256' as const, bytes: new Uint8Array(33) };

let db: IndexDb;
beforeAll(async () => {
  db = await createIndexDb('identity_handles');
});
afterAll(async () => db.close());
beforeEach(async () => {
  await db.sql.query(`truncate record, record_tombstone, post_removal, reply_gate, actor, post, feed_item, profile_agg, account_state, repo_sync`);
});

/** What the world answers now: each DID's claimed handle, each handle's DID, and which service is down. */
const world = {
  claims: new Map<string, string>([[ALICE, 'alice.test'], [BOB, 'bob.test']]),
  handles: new Map<string, string>([['alice.test', ALICE], ['bob.test', BOB]]),
  plc: 'up' as 'up' | 'down' | 'hanging',
  dns: 'up' as 'up' | 'down' | 'broken-web',
};

const identities: IdentityResolver = {
  async resolve(did): Promise<AtprotoIdentity> {
    if (world.plc === 'down') throw new DependencyError('plc', `PLC directory unreachable resolving ${did}`);
    if (world.plc === 'hanging') await new Promise(() => {});
    const claimed = world.claims.get(did);
    return { did, signingKey: KEY, pds: 'https://pds.example', ...(claimed === undefined ? {} : { claimedHandle: claimed }) };
  },
};
const handles: HandleResolver = {
  async resolve(handle) {
    if (world.dns === 'down') throw new DependencyError('dns', `DNS unavailable resolving handle ${handle}`);
    if (world.dns === 'broken-web') throw new SkytideError('identity_failed', `handle ${handle} could not be resolved`);
    return world.handles.get(handle);
  },
};

const ports = (): IndexPorts => ({ ...db.ports, identity: identities, handles, identityDeadlineMs: 300 });
const backfillPorts = (): BackfillPorts => ({ ...db.ports, identity: identities, handles, fetch: globalThis.fetch });
const handleOf = async (did: string) => (checkRows(await db.sql.query(`select handle as h from actor where did = $1`, [did]), { h: 'string?' }))[0]?.h;

beforeEach(() => {
  world.plc = 'up';
  world.dns = 'up';
  world.claims.set(ALICE, 'alice.test');
  world.handles.set('alice.test', ALICE);
});

describe('index: a transient failure keeps the last verified handle', () => {
  it.each([
    ['a DNS outage', () => void (world.dns = 'down')],
    ['a PLC outage', () => void (world.plc = 'down')],
    ["the handle's own web server failing", () => void (world.dns = 'broken-web')],
  ])('%s keeps the handle and asks for a follow-up', async (_name, breakIt) => {
    await indexBatch([identity(ALICE, 'alice.test', 1)], ports());
    expect(await handleOf(ALICE)).toBe('alice.test');
    breakIt();
    const result = await indexBatch([identity(ALICE, 'alice.test', 2), write({ did: BOB, collection: 'app.bsky.feed.post', rkey: 'p1', rev: 3, record: post('still indexed') })], ports());
    expect(await handleOf(ALICE)).toBe('alice.test');
    expect(result.resync).toEqual([{ did: ALICE, reason: 'handle_unverified' }]);
    expect(await db.sql.query(`select text from post`)).toEqual([{ text: 'still indexed' }]);
  });

  it('an identity lookup that hangs holds the batch no longer than its deadline', async () => {
    await indexBatch([identity(ALICE, 'alice.test', 1)], ports());
    // A lookup that never returns: without the deadline this batch would never end (and the test would time out).
    world.plc = 'hanging';
    const result = await indexBatch([identity(ALICE, 'alice.test', 2), write({ did: BOB, collection: 'app.bsky.feed.post', rkey: 'p1', rev: 3, record: post('not held up') })], ports());
    expect(result.resync).toEqual([{ did: ALICE, reason: 'handle_unverified' }]);
    expect(await handleOf(ALICE)).toBe('alice.test');
    expect(await db.sql.query(`select text from post`)).toEqual([{ text: 'not held up' }]);
  });

  it('a handle the DID document no longer claims is cleared even when the new claim cannot be verified', async () => {
    await indexBatch([identity(ALICE, 'alice.test', 1)], ports());
    expect(await handleOf(ALICE)).toBe('alice.test');
    // The document now claims a new handle whose domain fails (an expired domain behind a parking host): the new one
    // cannot be verified, but the old one is no longer claimed, so it is invalid whatever its own domain says.
    world.claims.set(ALICE, 'alice-new.test');
    world.dns = 'broken-web';
    const result = await indexBatch([identity(ALICE, 'alice-new.test', 2)], ports());
    expect(await handleOf(ALICE)).toBeNull();
    expect(result.resync).toEqual([{ did: ALICE, reason: 'handle_unverified' }]);
    // The follow-up verifies the new claim once its domain answers.
    world.dns = 'up';
    world.handles.set('alice-new.test', ALICE);
    await backfillRepos([{ did: ALICE, reason: 'handle_unverified' }], backfillPorts());
    expect(await handleOf(ALICE)).toBe('alice-new.test');
    // The same in the follow-up itself: claimed no more, cleared, though nothing can be verified.
    world.claims.set(ALICE, 'alice-third.test');
    world.dns = 'broken-web';
    await backfillRepos([{ did: ALICE, reason: 'handle_unverified' }], backfillPorts());
    expect(await handleOf(ALICE)).toBeNull();
  });

  it('a definite answer clears it: the handle now points at another DID, or nowhere', async () => {
    await indexBatch([identity(ALICE, 'alice.test', 1)], ports());
    world.handles.set('alice.test', BOB);
    await indexBatch([identity(ALICE, 'alice.test', 2)], ports());
    expect(await handleOf(ALICE)).toBeNull();
    world.handles.set('alice.test', ALICE);
    await indexBatch([identity(ALICE, 'alice.test', 3)], ports());
    expect(await handleOf(ALICE)).toBe('alice.test');
    world.handles.delete('alice.test');
    await indexBatch([identity(ALICE, 'alice.test', 4)], ports());
    expect(await handleOf(ALICE)).toBeNull();
  });
});

describe('backfill-repo: the handle_unverified follow-up', () => {
  it('waits an outage out (it is let through as a DependencyError), then verifies the handle as it is now', async () => {
    await indexBatch([identity(ALICE, 'alice.test', 1)], ports());
    world.dns = 'down';
    const { resync } = await indexBatch([identity(ALICE, 'alice.test', 2)], ports());
    expect(resync).toEqual([{ did: ALICE, reason: 'handle_unverified' }]);
    // Still down: the follow-up fails as an outage, and nothing is judged.
    await expect(backfillRepos([{ did: ALICE, reason: 'handle_unverified' }], backfillPorts())).rejects.toBeInstanceOf(DependencyError);
    expect(await handleOf(ALICE)).toBe('alice.test');
    // The outage ends, and meanwhile the account took a new handle: verified then, not at the next #identity.
    world.dns = 'up';
    world.claims.set(ALICE, 'alice2.test');
    world.handles.set('alice2.test', ALICE);
    const { outcomes, reports } = await backfillRepos([{ did: ALICE, reason: 'handle_unverified' }], backfillPorts());
    expect(outcomes).toEqual([{ status: 'ok' }]);
    expect(reports[0]).toMatchObject({ did: ALICE, status: 'identity' });
    expect(await handleOf(ALICE)).toBe('alice2.test');
    // The repo itself was not touched.
    expect(await db.sql.query(`select count(*)::int as n from repo_sync`)).toEqual([{ n: 0 }]);
  });
});

describe('index: handles taken as written (nothing verifies) end as if applied one event at a time', () => {
  const CAROL = 'did:plc:carol000000000000000000000';
  // Found by tests/property/index-order.test.ts (seed 1214284857): Carol's claim, superseded in the same batch by her
  // event without a handle, was dropped with its effect, so Alice kept the handle Carol had taken from her.
  it('a claim superseded by a later event of the same DID still takes the handle from its holder', async () => {
    for (const cut of [[3], [1, 2], [2, 1], [1, 1, 1]]) {
      await db.sql.query(`truncate actor`);
      const events = [identity(ALICE, 'a.test', 1), identity(CAROL, 'a.test', 2), identity(CAROL, undefined, 3)];
      for (let at = 0, i = 0; i < cut.length; at += cut[i]!, i++) await indexBatch(events.slice(at, at + cut[i]!), db.ports);
      expect([await handleOf(ALICE), await handleOf(CAROL)], `batches of ${cut.join(', ')}`).toEqual([null, null]);
    }
  });

  it('a handle claimed again after it was taken goes back to the later claimant only', async () => {
    await db.sql.query(`truncate actor`);
    await indexBatch([identity(ALICE, 'a.test', 1), identity(CAROL, 'a.test', 2), identity(ALICE, 'a.test', 3), identity(CAROL, 'c.test', 4)], db.ports);
    expect([await handleOf(ALICE), await handleOf(CAROL)]).toEqual(['a.test', 'c.test']);
  });
});
