// decodeRepoFrame: every frame becomes an outcome, never an exception (event-stream spec; sync spec).
import { describe, expect, it } from 'vitest';
import { decodeRepoFrame } from '../../../functions/atproto/repo-frame.ts';
import { encodeCbor } from '../../../functions/atproto/cbor.ts';
import { accountFrame, buildCommitFrame, encodeFrame, errorFrame, identityFrame, infoFrame, syncFrame } from '../../helpers/frames.ts';

const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';
const REV = '3l3qo2vuowo2b';
const POST = { $type: 'app.bsky.feed.post', text: 'hello', createdAt: '2026-01-01T00:00:00.000Z' };

describe('decodeRepoFrame: #commit', () => {
  it('fans a commit out into one event per op, with lex-JSON records and the body seq', async () => {
    const built = await buildCommitFrame({
      seq: 42, did: DID, rev: REV, since: '3l3qo2vuowo2a', time: '2026-01-02T03:04:05.678+01:00',
      ops: [
        { action: 'create', collection: 'app.bsky.feed.post', rkey: '3l3qo2vuowo2c', record: { ...POST, embed: { $type: 'app.bsky.embed.images', images: [{ alt: '', image: { $type: 'blob', ref: { $link: 'bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy' }, mimeType: 'image/png', size: 10 } }] } } },
        { action: 'update', collection: 'app.bsky.actor.profile', rkey: 'self', record: { $type: 'app.bsky.actor.profile', displayName: 'A', raw: { $bytes: 'AQID' } } },
        { action: 'delete', collection: 'app.bsky.feed.like', rkey: '3l3qo2vuowo2d' },
      ],
    });
    const out = await decodeRepoFrame(built.frame);
    expect(out.kind).toBe('sequenced');
    if (out.kind !== 'sequenced') return;
    expect(out).toMatchObject({ t: '#commit', seq: 42, did: DID, resync: [], dropped: [] });
    const base = { seq: 42, time: '2026-01-02T02:04:05.678Z', did: DID, commit: built.commitCid, rev: REV, since: '3l3qo2vuowo2a' };
    expect(out.events).toEqual([
      {
        type: 'create', ...base, collection: 'app.bsky.feed.post', rkey: '3l3qo2vuowo2c',
        cid: built.recordCids['app.bsky.feed.post/3l3qo2vuowo2c'],
        record: { ...POST, embed: { $type: 'app.bsky.embed.images', images: [{ alt: '', image: { $type: 'blob', ref: { $link: 'bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy' }, mimeType: 'image/png', size: 10 } }] } },
      },
      {
        type: 'update', ...base, collection: 'app.bsky.actor.profile', rkey: 'self', cid: built.recordCids['app.bsky.actor.profile/self'],
        record: { $type: 'app.bsky.actor.profile', displayName: 'A', raw: { $bytes: 'AQID' } },
      },
      { type: 'delete', ...base, collection: 'app.bsky.feed.like', rkey: '3l3qo2vuowo2d' },
    ]);
  });

  it('decodes one block named by many ops only up to twice the blocks\' limit in all; the rest dropped, the repo resynced', async () => {
    // Found by review: a block is stored once, so 200 ops naming one record of 1 MB made 200 events of 1 MB each.
    const big = { $type: 'com.example.big', data: 'x'.repeat(490_000) };
    const ops = Array.from({ length: 10 }, (_, i) => ({ action: 'create' as const, collection: 'com.example.big', rkey: `k${i}`, record: big }));
    const built = await buildCommitFrame({ seq: 7, did: DID, rev: REV, ops, omitBlocks: ops.slice(1).map((o) => `${o.collection}/${o.rkey}`) });
    const out = await decodeRepoFrame(built.frame);
    if (out.kind !== 'sequenced') throw new Error(`not sequenced: ${out.kind}`);
    expect(out.events.map((e) => ('rkey' in e ? e.rkey : ''))).toEqual(['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7']);
    expect(out.dropped).toEqual([{ reason: 'record_too_big', count: 2 }]);
    expect(out.resync).toEqual([{ did: DID, reason: 'too_big' }]);
  });

  it('an empty commit is sequenced with no events, so the cursor still moves past it', async () => {
    const out = await decodeRepoFrame((await buildCommitFrame({ seq: 7, did: DID, rev: REV, ops: [] })).frame);
    expect(out).toMatchObject({ kind: 'sequenced', t: '#commit', seq: 7, did: DID, events: [], resync: [], dropped: [], state: { rev: REV, since: null, prevData: null } });
    expect(out.kind === 'sequenced' && out.state?.data).toMatch(/^bafyrei/);
  });

  it('a missing record block drops that op, emits the others, and asks for a resync of the repo', async () => {
    const built = await buildCommitFrame({
      seq: 8, did: DID, rev: REV, omitBlocks: ['app.bsky.feed.post/a'],
      ops: [
        { action: 'create', collection: 'app.bsky.feed.post', rkey: 'a', record: POST },
        { action: 'create', collection: 'app.bsky.feed.post', rkey: 'b', record: { ...POST, text: 'b' } },
      ],
    });
    const out = await decodeRepoFrame(built.frame);
    if (out.kind !== 'sequenced') throw new Error(`expected sequenced, got ${out.kind}`);
    expect(out.events.map((e) => (e.type === 'create' ? e.rkey : ''))).toEqual(['b']);
    expect(out.resync).toEqual([{ did: DID, reason: 'missing_block' }]);
    expect(out.dropped).toEqual([{ reason: 'missing_block', count: 1 }]);
  });

  it('a tooBig commit emits nothing and asks for a resync', async () => {
    const built = await buildCommitFrame({ seq: 9, did: DID, rev: REV, tooBig: true, ops: [{ action: 'create', collection: 'app.bsky.feed.post', rkey: 'a', record: POST }] });
    const out = await decodeRepoFrame(built.frame);
    expect(out).toMatchObject({ kind: 'sequenced', seq: 9, events: [], resync: [{ did: DID, reason: 'too_big' }] });
  });

  // The data model has no floats (1.0 included), and a CBOR map {"$link": text} or {"$bytes": text} would come out
  // as the lex-JSON of a link or bytes: such a record is invalid, dropped and counted, and the rest of the commit kept.
  it('drops a record with a float or a map shaped like a link or bytes as invalid_record, and emits the other ops', async () => {
    const oneFloat64 = Uint8Array.from([0xa1, 0x61, 0x6e, 0xfb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0]); // {"n": 1.0}
    const link = { $link: 'bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy' };
    const built = await buildCommitFrame({
      seq: 12, did: DID, rev: REV,
      ops: [
        { action: 'create', collection: 'app.bsky.feed.post', rkey: 'float', recordBytes: oneFloat64 },
        { action: 'create', collection: 'app.bsky.actor.profile', rkey: 'self', recordBytes: encodeCbor({ $type: 'app.bsky.actor.profile', avatar: { $type: 'blob', ref: link, mimeType: 'image/png', size: 10 } }) },
        { action: 'create', collection: 'app.bsky.feed.post', rkey: 'bytes', recordBytes: encodeCbor({ ...POST, raw: { $bytes: 'AQID' } }) },
        { action: 'create', collection: 'app.bsky.feed.post', rkey: 'fine', record: { ...POST, likes: 1 } },
      ],
    });
    const out = await decodeRepoFrame(built.frame);
    if (out.kind !== 'sequenced') throw new Error(`expected sequenced, got ${out.kind}`);
    expect(out.events.map((e) => (e.type === 'create' ? e.rkey : ''))).toEqual(['fine']);
    expect(out.dropped).toEqual([{ reason: 'invalid_record', count: 3 }]);
    expect(out.resync).toEqual([]);
  });

  it('drops ops with a bad path and counts them', async () => {
    const built = await buildCommitFrame({ seq: 10, did: DID, rev: REV, ops: [{ action: 'delete', collection: 'not an nsid', rkey: 'x' }] });
    const out = await decodeRepoFrame(built.frame);
    expect(out).toMatchObject({ kind: 'sequenced', events: [], dropped: [{ reason: 'invalid_syntax', count: 1 }] });
  });

  it('a commit whose repo is not a DID is invalid but keeps its seq so the cursor can pass it', async () => {
    const built = await buildCommitFrame({ seq: 11, did: 'nope', rev: REV, ops: [] });
    expect(await decodeRepoFrame(built.frame)).toEqual({ kind: 'invalid', reason: 'invalid_syntax', message: '#commit: repo is not a valid DID', seq: 11 });
  });

  it('blocks that are not a CAR make the commit invalid with reason invalid_car and its DID', async () => {
    const frame = encodeFrame({ op: 1, t: '#commit' }, { seq: 12, repo: DID, commit: (await import('multiformats/cid')).CID.parse('bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm'), rev: REV, since: null, blocks: new Uint8Array([1, 2, 3]), ops: [], time: '2026-01-01T00:00:00Z', tooBig: false, rebase: false, blobs: [] });
    expect(await decodeRepoFrame(frame)).toMatchObject({ kind: 'invalid', reason: 'invalid_car', seq: 12, did: DID });
  });
});

describe('decodeRepoFrame: other messages', () => {
  it('#identity and #account become events; unknown statuses are kept as strings', async () => {
    expect(await decodeRepoFrame(identityFrame(1, DID, 'alice.test'))).toEqual({
      kind: 'sequenced', t: '#identity', seq: 1, did: DID, resync: [], dropped: [],
      events: [{ type: 'identity', seq: 1, time: '2026-01-01T00:00:00.000Z', did: DID, handle: 'alice.test' }],
    });
    expect(await decodeRepoFrame(accountFrame(2, DID, false, 'Quarantined'))).toMatchObject({
      events: [{ type: 'account', seq: 2, did: DID, active: false, status: 'quarantined' }],
    });
  });

  it('#identity with a handle that breaks the handle syntax: the event without it, the handle counted as invalid_handle', async () => {
    // The event tells the index to verify the identity again; the handle is only a hint, and an invalid one is not passed on.
    for (const handle of ['not a handle!', 'nodot', '-bad.example.com', 'alice.test.']) {
      expect(await decodeRepoFrame(identityFrame(1, DID, handle)), handle).toEqual({
        kind: 'sequenced', t: '#identity', seq: 1, did: DID, resync: [], dropped: [{ reason: 'invalid_handle', count: 1 }],
        events: [{ type: 'identity', seq: 1, time: '2026-01-01T00:00:00.000Z', did: DID }],
      });
    }
    // `handle.invalid` (the lexicon's "failed validation") and a mixed-case handle are valid syntax: passed on as sent.
    for (const handle of ['handle.invalid', 'Alice.Example.COM']) {
      expect(await decodeRepoFrame(identityFrame(1, DID, handle)), handle).toMatchObject({ dropped: [], events: [{ handle }] });
    }
  });

  it('keeps a canonical time as sent, normalises other datetimes, and rejects instants that do not exist', async () => {
    const timeOf = async (t: string) => {
      const out = await decodeRepoFrame(identityFrame(1, DID, undefined, t));
      return out.kind === 'sequenced' ? out.events[0]!.time : out.kind;
    };
    expect(await timeOf('2024-02-29T23:59:59.999Z')).toBe('2024-02-29T23:59:59.999Z');
    expect(await timeOf('2000-02-29T00:00:00.000Z')).toBe('2000-02-29T00:00:00.000Z');
    expect(await timeOf('2026-01-02T03:04:05.678+01:00')).toBe('2026-01-02T02:04:05.678Z');
    for (const impossible of ['2023-02-29T00:00:00.000Z', '1900-02-29T00:00:00.000Z', '2026-04-31T00:00:00.000Z', '2026-13-01T00:00:00.000Z', '2026-01-01T24:00:00.000Z', '2026-01-01T00:60:00.000Z']) {
      expect(await timeOf(impossible), impossible).not.toBe(impossible);
    }
  });

  it('#sync asks for a resync and emits no events (repo-level noise stays out of the stream)', async () => {
    expect(await decodeRepoFrame(await syncFrame(3, DID, REV))).toEqual({
      kind: 'sequenced', t: '#sync', seq: 3, did: DID, events: [], resync: [{ did: DID, reason: 'sync_event' }], dropped: [],
      state: { rev: REV, data: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' },
    });
  });

  it('#info and error frames are reported, not events', async () => {
    expect(await decodeRepoFrame(infoFrame('OutdatedCursor', 'too old'))).toEqual({ kind: 'info', name: 'OutdatedCursor', message: 'too old' });
    expect(await decodeRepoFrame(errorFrame('FutureCursor'))).toEqual({ kind: 'error', error: 'FutureCursor' });
  });

  it('ignores unknown op and unknown t, as the spec says', async () => {
    expect(await decodeRepoFrame(encodeFrame({ op: 2 }, {}))).toEqual({ kind: 'ignored', reason: 'unknown_op' });
    expect(await decodeRepoFrame(encodeFrame({ op: 1, t: '#future' }, { seq: 5 }))).toEqual({ kind: 'ignored', reason: 'unknown_frame_type', t: '#future', seq: 5 });
  });

  it('malformed bytes are an invalid frame, never an exception', async () => {
    const cases: [Uint8Array, string][] = [
      [new Uint8Array([0xff, 0x00]), 'frame is not valid DAG-CBOR'],
      [encodeCbor({ op: 1, t: '#commit' }), 'frame has a header but no body'],
      [new Uint8Array([...encodeFrame({ op: 1, t: '#info' }, { name: 'x' }), 0x01]), 'trailing bytes'],
      [encodeFrame({ op: 1 }, { seq: 1 }), 'message frame without a string `t`'],
      [new Uint8Array([...encodeCbor([1]), ...encodeCbor({})]), 'frame header is not a map'],
      [encodeFrame({ op: 1, t: '#identity' }, { did: DID }), '#identity without a valid seq'],
    ];
    for (const [bytes, message] of cases) {
      const out = await decodeRepoFrame(bytes);
      expect(out.kind).toBe('invalid');
      if (out.kind === 'invalid') expect(out.message).toContain(message);
    }
  });
});
