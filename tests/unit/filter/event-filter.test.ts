// The filter matcher (functions/event-filter.ts) and its validation at config parse.
import { describe, expect, it } from 'vitest';
import { dropReason, keepsCollection, keepsDid, keepsEverything, parseEventFilter, type EventFilter } from '../../../functions/event-filter.ts';
import { parseConfig } from '../../../adapters/config/parse.ts';
import type { StreamEvent } from '../../../functions/events.ts';

const ALICE = 'did:plc:alicealicealicealicealic';
const BOB = 'did:plc:bobbobbobbobbobbobbobbob';
const CAROL = 'did:web:carol.example.com';

function filter(input: Parameters<typeof parseEventFilter>[0]): EventFilter {
  const parsed = parseEventFilter(input);
  if (!parsed.ok) throw new Error(parsed.problems.join('; '));
  return parsed.filter;
}

const base = { seq: 1, time: '2026-01-01T00:00:00.000Z', commit: 'bafy', rev: '3l3qo2vuowo2b' };
const create = (did: string, collection: string): StreamEvent => ({ ...base, type: 'create', did, collection, rkey: '3l3qo2vuowo2b', cid: 'bafy', record: { $type: collection } });
const del = (did: string, collection: string): StreamEvent => ({ ...base, type: 'delete', did, collection, rkey: '3l3qo2vuowo2b' });

describe('event filter', () => {
  it('keeps everything when nothing is configured', () => {
    const f = filter({});
    expect(keepsEverything(f)).toBe(true);
    expect(keepsDid(f, ALICE)).toBe(true);
    expect(keepsCollection(f, 'com.example.anything')).toBe(true);
  });

  it('a feed generator: posts and likes, exactly', () => {
    const f = filter({ collections: ['app.bsky.feed.post', 'app.bsky.feed.like'] });
    expect(keepsCollection(f, 'app.bsky.feed.post')).toBe(true);
    expect(keepsCollection(f, 'app.bsky.feed.like')).toBe(true);
    expect(keepsCollection(f, 'app.bsky.feed.repost')).toBe(false);
    expect(keepsCollection(f, 'app.bsky.feed.postgate')).toBe(false);
    expect(dropReason(f, create(ALICE, 'app.bsky.graph.follow'))).toBe('collection');
    expect(dropReason(f, del(ALICE, 'app.bsky.graph.follow'))).toBe('collection');
    expect(dropReason(f, del(ALICE, 'app.bsky.feed.like'))).toBeUndefined();
  });

  it('a trailing .* keeps every NSID under the prefix, not the prefix itself nor a longer segment', () => {
    const f = filter({ collections: ['app.bsky.graph.*'] });
    expect(keepsCollection(f, 'app.bsky.graph.follow')).toBe(true);
    expect(keepsCollection(f, 'app.bsky.graph.list.item')).toBe(true);
    expect(keepsCollection(f, 'app.bsky.graph')).toBe(false);
    expect(keepsCollection(f, 'app.bsky.graphx.follow')).toBe(false);
    expect(keepsCollection(f, 'app.bsky.feed.post')).toBe(false);
    // A pattern as wide as an authority.
    const wide = filter({ collections: ['app.bsky.*', 'com.example.thing', 'blue.*'] });
    expect(keepsCollection(wide, 'blue.moji.collection.item')).toBe(true);
    expect(keepsCollection(wide, 'app.bsky.feed.post')).toBe(true);
    expect(keepsCollection(wide, 'com.example.thing')).toBe(true);
    expect(keepsCollection(wide, 'com.example.other')).toBe(false);
  });

  it('a community AppView: its members only, one of them dropped', () => {
    const f = filter({ dids: [ALICE, BOB, CAROL], excludeDids: [] });
    expect(keepsDid(f, ALICE)).toBe(true);
    expect(keepsDid(f, CAROL)).toBe(true);
    expect(keepsDid(f, 'did:plc:someoneelsesomeoneelseso')).toBe(false);
    const g = filter({ excludeDids: [BOB] });
    expect(keepsDid(g, ALICE)).toBe(true);
    expect(keepsDid(g, BOB)).toBe(false);
  });

  it('identity, account and repo events pass the collection rule but not the DID rule', () => {
    const f = filter({ collections: ['app.bsky.feed.post'], excludeDids: [BOB] });
    const identity: StreamEvent = { seq: 1, time: base.time, did: ALICE, type: 'identity', handle: 'alice.test' };
    const account: StreamEvent = { seq: 1, time: base.time, did: BOB, type: 'account', active: true };
    const repo: StreamEvent = { ...base, did: ALICE, type: 'repo' };
    expect(dropReason(f, identity)).toBeUndefined();
    expect(dropReason(f, repo)).toBeUndefined();
    expect(dropReason(f, account)).toBe('did');
    expect(dropReason(f, create(BOB, 'app.bsky.feed.post'))).toBe('did');
  });

  it('names every bad entry', () => {
    const parsed = parseEventFilter({
      collections: ['app.bsky.feed.post', 'not an nsid', 'app.*.post', '*', 'app.bsky.feed.*'],
      dids: [ALICE, 'alice', 'did:plc:alicealicealicealicealc', 'did:web:example.com:alice'],
      excludeDids: [ALICE, 'did:nope'],
    });
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.problems).toEqual([
      'INGESTER_COLLECTIONS: "not an nsid" is not an NSID (or a prefix followed by .*)',
      'INGESTER_COLLECTIONS: "app.*.post" is not an NSID (or a prefix followed by .*)',
      'INGESTER_COLLECTIONS: "*" is not an NSID (or a prefix followed by .*)',
      'INGESTER_DIDS: "alice" is not a DID',
      // Valid DID syntax, but no such DID can exist: a typo that would keep no one.
      'INGESTER_DIDS: "did:plc:alicealicealicealicealc" cannot exist in atproto (a did:plc identifier is 24 characters of base32 (a-z, 2-7))',
      'INGESTER_DIDS: "did:web:example.com:alice" cannot exist in atproto (a did:web identifier is a hostname: no path, no percent-encoding, a port only on localhost)',
      'INGESTER_EXCLUDE_DIDS: "did:nope" is not a DID',
      `INGESTER_DIDS and INGESTER_EXCLUDE_DIDS both name ${ALICE}`,
    ]);
  });

  it('refuses capitals where the network writes none (a did:web host, an NSID\'s domain part): they would match no one', () => {
    // A localhost port's `%3A` is upper case as the spec writes it: no capital of the host.
    expect(parseEventFilter({ dids: ['did:web:localhost%3A8443'] }).ok).toBe(true);
    const parsed = parseEventFilter({ collections: ['App.Bsky.Feed.post', 'App.Bsky.*', 'com.example.fooBar'], dids: ['did:web:Example.COM'] });
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.problems).toEqual([
      'INGESTER_COLLECTIONS: "App.Bsky.Feed.post" has capitals in its domain part: the network writes it in lower case (app.bsky.feed.post)',
      'INGESTER_COLLECTIONS: "App.Bsky.*" has capitals in its domain part: the network writes it in lower case (app.bsky.*)',
      'INGESTER_DIDS: "did:web:Example.COM" names its host in capitals: the network writes it in lower case (did:web:example.com)',
    ]);
  });

  it('is checked when the configuration is parsed, joined with the other problems', () => {
    const { config } = parseConfig({ INGESTER_COLLECTIONS: 'app.bsky.feed.post, app.bsky.graph.*', INGESTER_EXCLUDE_DIDS: BOB });
    expect(keepsCollection(config.filter, 'app.bsky.graph.block')).toBe(true);
    expect(keepsCollection(config.filter, 'app.bsky.feed.like')).toBe(false);
    expect(keepsDid(config.filter, BOB)).toBe(false);
    expect(() => parseConfig({ INGESTER_COLLECTIONS: 'app.bsky.feed.*.x', INGESTER_DIDS: 'bob', HTTP_PORT: 'x' })).toThrow(
      /HTTP_PORT.*INGESTER_COLLECTIONS: "app.bsky.feed.\*.x".*INGESTER_DIDS: "bob" is not a DID/,
    );
    expect(keepsEverything(parseConfig({}).config.filter)).toBe(true);
  });
});
