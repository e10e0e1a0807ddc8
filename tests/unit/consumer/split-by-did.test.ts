// A read of an index stream split by DID into transactions run at once (INDEXER_SPLIT): no repo in two parts, stream
// order kept within each, outcomes back in the read's order, and a part that throws waited out with the others.
import { describe, expect, it } from 'vitest';
import { didPart, handleSplit, partsByDid } from '../../../long-runners/consumer/split-by-did.ts';
import { didShard } from '../../../adapters/redis/keys.ts';
import { DependencyError, InvariantError } from '../../../functions/errors.ts';
import type { ItemOutcome } from '../../../functions/result.ts';

interface Item { did: string; n: number }
const dids = Array.from({ length: 2000 }, (_, i) => `did:plc:${i.toString(36).padStart(24, 'a')}`);
const items: Item[] = Array.from({ length: 6000 }, (_, n) => ({ did: dids[(n * 7919) % dids.length] as string, n }));
const didOf = (item: Item) => item.did;
const ok: ItemOutcome = { status: 'ok' };

describe('partsByDid', () => {
  it('puts each item in one part, each DID in one part, in stream order', () => {
    const parts = partsByDid(items, 2, didOf);
    expect(parts).toHaveLength(2);
    expect(parts.flat().sort((a, b) => a - b)).toEqual(items.map((_, i) => i));
    const partOf = new Map<string, number>();
    parts.forEach((positions, k) => {
      expect(positions).toEqual([...positions].sort((a, b) => a - b));
      for (const i of positions) {
        const did = (items[i] as Item).did;
        expect(partOf.get(did) ?? k).toBe(k);
        partOf.set(did, k);
      }
    });
  });

  it('splits the DIDs of one stream shard too (a part hash independent of the shard hash)', () => {
    // With STREAM_SHARDS=2 and INDEXER_SPLIT=2, every DID of shard 0 has an even shard hash: splitting by that hash
    // again would put them all in one part and run one transaction where two were asked for.
    const shard0 = dids.filter((did) => didShard(did, 2) === 0);
    const counts = [0, 0];
    for (const did of shard0) (counts[didPart(did, 2)] as number)++;
    expect(Math.min(...counts) / shard0.length).toBeGreaterThan(0.45);
  });

  it('leaves out empty parts and keeps one part whole', () => {
    expect(partsByDid([{ did: 'did:plc:a', n: 0 }, { did: 'did:plc:a', n: 1 }], 4, didOf)).toEqual([[0, 1]]);
    expect(partsByDid(items.slice(0, 3), 1, didOf)).toEqual([[0, 1, 2]]);
  });
});

describe('handleSplit', () => {
  it('runs the parts at once and returns the outcomes in the order of the read', async () => {
    let started = 0;
    let release = (): void => {};
    const bothStarted = new Promise<void>((resolve) => (release = resolve));
    const outcomes = await handleSplit(items, 2, didOf, async (part) => {
      // Resolves only once both parts are in flight: run one after the other, this would never settle.
      if (++started === 2) release();
      await bothStarted;
      return part.map((item) => ({ status: 'retry', reason: 'invalid_event', message: String(item.n) }));
    });
    expect(outcomes.map((o) => (o.status === 'retry' ? o.message : undefined))).toEqual(items.map((item) => String(item.n)));
  });

  it('waits for every part before it throws, and throws an outage first', async () => {
    let slowDone = false;
    const parts = partsByDid(items, 3, didOf);
    const firstDidOf = (k: number) => (items[(parts[k] as number[])[0] as number] as Item).did;
    const failing = firstDidOf(0);
    const outage = firstDidOf(1);
    const error = await handleSplit(items, 3, didOf, async (part) => {
      if (part.some((item) => item.did === failing)) throw new Error('poison');
      if (part.some((item) => item.did === outage)) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        throw new DependencyError('postgres', 'connection refused');
      }
      await new Promise((resolve) => setTimeout(resolve, 40));
      slowDone = true;
      return part.map(() => ok);
    }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(DependencyError);
    expect(slowDone).toBe(true);
  });

  it('insists on one outcome per item of each part, and a broken contract is thrown before an outage', async () => {
    await expect(handleSplit(items, 2, didOf, async (part) => part.slice(1).map(() => ok))).rejects.toBeInstanceOf(InvariantError);
    const broken = (items[(partsByDid(items, 2, didOf)[0] as number[])[0] as number] as Item).did;
    await expect(handleSplit(items, 2, didOf, async (part) => {
      if (part.some((item) => item.did === broken)) return part.slice(1).map(() => ok);
      throw new DependencyError('postgres', 'connection refused');
    })).rejects.toBeInstanceOf(InvariantError);
  });

  it('calls the function once with the whole read when there is one part', async () => {
    const calls: number[] = [];
    await handleSplit(items, 1, didOf, async (part) => (calls.push(part.length), part.map(() => ok)));
    expect(calls).toEqual([items.length]);
  });
});
