// Signed repos for tests and the network benchmark, written by @atproto/repo (a test tool here, never runtime): a
// mix of record types shaped like the network (likes, posts, follows, reposts, blocks, one profile), every record
// key a TID, one commit signed by the repo's own K-256 key.
import { Repo, MemoryBlockstore, WriteOpAction, blocksToCarFile } from '@atproto/repo';
import { Secp256k1Keypair } from '@atproto/crypto';
import { tid } from './events.ts';

export interface SyntheticRepo {
  did: string;
  /** `did:key:z...` of the signing key. */
  didKey: string;
  car: Uint8Array;
  /** Records per collection. */
  counts: Record<string, number>;
}

const AT = '2026-01-01T00:00:00.000Z';
const CID = 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm';

/**
 * The i-th record of a repo: about 45% likes, 25% posts, 15% follows, 7% reposts, 3% blocks, the rest posts. Every
 * like, repost, follow and block names its own subject, as people's do (a second follow of the same account is a
 * duplicate the index keeps out of its tables): past the `others` given, follows and blocks name accounts outside
 * this network.
 */
function record(did: string, i: number, others: readonly string[]): { collection: string; record: Record<string, unknown> } {
  const other = others[i % others.length] ?? did;
  const r = i % 100;
  // The n-th follow (or block) of the repo: the n-th of `others`, then accounts elsewhere.
  const nth = r < 60 ? Math.floor(i / 100) * 15 + (r - 45) : Math.floor(i / 100) * 3 + (r - 67);
  const account = others[nth] ?? `did:plc:elsewhere${tid(i).padEnd(15, 'a')}`;
  const subject = { uri: `at://${other}/app.bsky.feed.post/${tid(1_000_000 + i)}`, cid: CID };
  if (r < 45) return { collection: 'app.bsky.feed.like', record: { $type: 'app.bsky.feed.like', subject, createdAt: AT } };
  if (r < 60) return { collection: 'app.bsky.graph.follow', record: { $type: 'app.bsky.graph.follow', subject: account, createdAt: AT } };
  if (r < 67) return { collection: 'app.bsky.feed.repost', record: { $type: 'app.bsky.feed.repost', subject, createdAt: AT } };
  if (r < 70) return { collection: 'app.bsky.graph.block', record: { $type: 'app.bsky.graph.block', subject: account, createdAt: AT } };
  const reply = r < 78 ? { reply: { root: subject, parent: subject } } : {};
  return { collection: 'app.bsky.feed.post', record: { $type: 'app.bsky.feed.post', text: `post ${i} of ${did.slice(-6)}`, createdAt: AT, langs: ['en'], ...reply } };
}

/**
 * A signed repo of `records` records (plus a profile), whose subjects point at `others`; `extra` records are added as
 * given (not counted in `counts`).
 */
export async function buildSyntheticRepo(
  did: string, records: number, others: readonly string[] = [], extra: readonly { collection: string; rkey: string; record: Record<string, unknown> }[] = [],
): Promise<SyntheticRepo> {
  const keypair = await Secp256k1Keypair.create({ exportable: true });
  const counts: Record<string, number> = { 'app.bsky.actor.profile': 1 };
  const writes = [{ action: WriteOpAction.Create, collection: 'app.bsky.actor.profile', rkey: 'self', record: { $type: 'app.bsky.actor.profile', displayName: did.slice(-6) } }];
  const distinct = [...new Set(others)];
  for (let i = 0; i < records - 1; i++) {
    const { collection, record: value } = record(did, i, distinct);
    counts[collection] = (counts[collection] ?? 0) + 1;
    writes.push({ action: WriteOpAction.Create, collection, rkey: tid(2_000_000 + i), record: value as never });
  }
  for (const e of extra) writes.push({ action: WriteOpAction.Create, collection: e.collection, rkey: e.rkey, record: e.record as never });
  const storage = new MemoryBlockstore();
  const repo = await Repo.create(storage, did, keypair, writes as never);
  return { did, didKey: keypair.did(), car: await blocksToCarFile(repo.cid, storage.blocks), counts };
}
