// STREAM_SHARDS=1 on one Redis keeps every key byte for byte as before (and as rsky names them); more shards, or a
// Redis Cluster, put every key a MULTI writes with a shard's stream into that shard's hash slot.
import { describe, expect, it } from 'vitest';
import { createKeySpace, didShard, hashTag, STREAMS } from '../../../adapters/redis/keys.ts';

const HOST = 'https://relay.example/';
const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';

describe('key names', () => {
  it('with one shard on one Redis, every key is the unsharded name', () => {
    for (const prefix of ['', 'deploy1:']) {
      const k = createKeySpace(prefix);
      expect(k.tagged).toBe(false);
      const p = prefix;
      expect(k.shardsOf(STREAMS.firehoseLive)).toEqual(['firehose_live']);
      expect(k.shardFor(STREAMS.firehoseLive, DID)).toBe('firehose_live');
      expect(k.shardFor(STREAMS.repoBackfill, DID)).toBe('repo_backfill');
      expect(k.stream(STREAMS.firehoseLive)).toBe(`${p}firehose_live`);
      expect(k.dlq(STREAMS.firehoseLive)).toBe(`${p}firehose_live_dlq`);
      expect(k.dlq(STREAMS.labelLive)).toBe(`${p}label_live_dlq`);
      expect(k.cursor(STREAMS.firehoseLive, HOST)).toBe(`${p}firehose_live:cursor:relay.example`);
      expect(k.cursor(STREAMS.labelLive, HOST)).toBe(`${p}label_live:cursor:relay.example`);
      expect(k.cursor(STREAMS.repoBackfill, HOST)).toBe(`${p}repo_backfill:cursor:relay.example`);
      expect(k.waiting(STREAMS.firehoseLive, HOST)).toBe(`${p}firehose_live:waiting:relay.example`);
      expect(k.parked(STREAMS.firehoseLive, HOST, DID)).toBe(`${p}firehose_live:parked:relay.example:${DID}`);
      expect(k.beside(STREAMS.repoBackfill, ':lease:relay.example')).toBe(`${p}repo_backfill:lease:relay.example`);
      expect(k.repoState(DID)).toBe(`${p}repo_state:${DID}`);
      // createKeySpace(prefix, { shards: 1 }) is the same key space.
      expect(createKeySpace(prefix, { shards: 1 }).repoState(DID)).toBe(k.repoState(DID));
    }
  });

  it('with shards, a DID keeps its stream, cursor, waits, DLQ and repo state in one slot', () => {
    const k = createKeySpace('t:', { shards: 4 });
    expect(k.shardsOf(STREAMS.firehoseLive)).toEqual(['firehose_live:{0}', 'firehose_live:{1}', 'firehose_live:{2}', 'firehose_live:{3}']);
    expect(k.shardsOf(STREAMS.labelLive)).toEqual(['label_live']);
    const n = k.shardOf(DID);
    const shard = k.shardFor(STREAMS.firehoseLive, DID);
    expect(shard).toBe(`firehose_live:{${n}}`);
    const together = [
      k.stream(shard),
      k.stream(k.shardFor(STREAMS.repoBackfill, DID)),
      k.stream(k.shardFor(STREAMS.firehoseBackfill, DID)),
      k.cursor(shard, HOST),
      k.waiting(shard, HOST),
      k.parked(shard, HOST, DID),
      k.dlq(shard),
      k.repoState(DID),
    ];
    expect(new Set(together.map(hashTag))).toEqual(new Set([String(n)]));
    // label_live stays one stream; its companions take the stream key as their tag.
    expect(hashTag(k.cursor(STREAMS.labelLive, HOST))).toBe(hashTag(k.stream(STREAMS.labelLive)));
    expect(hashTag(k.dlq(STREAMS.labelLive))).toBe(hashTag(k.stream(STREAMS.labelLive)));
    expect(hashTag(k.beside(STREAMS.repoBackfill, ':lease:x'))).toBe(hashTag(k.cursor(STREAMS.repoBackfill, 'x')));
  });

  it('a Redis Cluster tags keys even with one shard', () => {
    const k = createKeySpace('', { cluster: true });
    expect(k.shardsOf(STREAMS.firehoseLive)).toEqual(['firehose_live:{0}']);
    expect(k.repoState(DID)).toBe(`repo_state:{0}:${DID}`);
  });

  it('spreads DIDs over the shards, the same in every process', () => {
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) counts[didShard(`did:plc:${i.toString(36).padStart(24, 'a')}`, 4)]!++;
    for (const c of counts) expect(c).toBeGreaterThan(800);
    expect(didShard(DID, 4)).toBe(didShard(DID, 4));
    expect(didShard(DID, 1)).toBe(0);
    // Fixed vectors, for another implementation (rsky, a script) to check it shards the same way.
    expect([didShard(DID, 4), didShard(DID, 7), didShard('did:web:example.com', 16)]).toEqual([1, 4, 3]);
  });
});
