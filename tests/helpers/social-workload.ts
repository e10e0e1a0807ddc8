// A deterministic social workload as a relay would sequence it: many repos posting, liking, following and deleting,
// one op per #commit (unsigned: the runs that use it trust upstream, they are about delivery and indexing), plus the
// truth it leaves behind (the live records, likes, follows and the counts the aggregates must show), so a test can
// compare the index with what the source says without a second implementation of the indexer.
import { buildCommitFrame } from './frames.ts';
import { tid } from './events.ts';
import { createRandom } from './seeded-random.ts';

const S32 = 'abcdefghijklmnopqrstuvwxyz234567';
const CREATED_AT = '2026-01-01T00:00:00.000Z';

export interface WorkloadTruth {
  /** uri -> cid of every record that exists at the end. */
  records: Map<string, string>;
  /** uri -> subject uri of every live like. */
  likes: Map<string, string>;
  /** uri -> subject DID of every live follow. */
  follows: Map<string, string>;
  /** Live post uris. */
  posts: Set<string>;
}

export interface Workload {
  dids: string[];
  /** seq -> frame, seqs 1..n. */
  frames: Uint8Array[];
  truth: WorkloadTruth;
}

export function workloadDid(i: number): string {
  let s = '';
  let v = i + 1;
  for (let k = 0; k < 24; k++) {
    s = S32[v % 32] + s;
    v = Math.floor(v / 32);
  }
  return `did:plc:${s}`;
}

export async function buildSocialWorkload(o: { repos: number; events: number; seed: number }): Promise<Workload> {
  const random = createRandom(o.seed);
  const dids = Array.from({ length: o.repos }, (_, i) => workloadDid(i));
  const truth: WorkloadTruth = { records: new Map(), likes: new Map(), follows: new Map(), posts: new Set() };
  const postsOf = new Map<string, string[]>(dids.map((d) => [d, []]));
  const owned = new Map<string, string[]>(dids.map((d) => [d, []]));
  const likedBy = new Map<string, Set<string>>(dids.map((d) => [d, new Set()]));
  const followedBy = new Map<string, Set<string>>(dids.map((d) => [d, new Set()]));
  const frames: Uint8Array[] = [];
  for (let seq = 1; seq <= o.events; seq++) {
    const did = random.pick(dids);
    const rev = tid(seq);
    const rkey = tid(seq);
    const roll = random.next();
    const others = [...postsOf.values()].flat();
    let op: { action: 'create' | 'delete'; collection: string; rkey: string; record?: Record<string, unknown> } | undefined;
    if (roll < 0.25 && others.length > 0) {
      const subject = random.pick(others);
      if (!likedBy.get(did)!.has(subject)) {
        op = { action: 'create', collection: 'app.bsky.feed.like', rkey, record: { $type: 'app.bsky.feed.like', subject: { uri: subject, cid: truth.records.get(subject) ?? '' }, createdAt: CREATED_AT } };
      }
    } else if (roll < 0.4) {
      const subject = random.pick(dids);
      if (subject !== did && !followedBy.get(did)!.has(subject)) {
        op = { action: 'create', collection: 'app.bsky.graph.follow', rkey, record: { $type: 'app.bsky.graph.follow', subject, createdAt: CREATED_AT } };
      }
    } else if (roll < 0.5 && owned.get(did)!.length > 0) {
      const mine = owned.get(did)!;
      const uri = mine.splice(random.int(0, mine.length - 1), 1)[0]!;
      const [, , , collection, key] = uri.split('/');
      op = { action: 'delete', collection: collection!, rkey: key! };
    }
    op ??= { action: 'create', collection: 'app.bsky.feed.post', rkey, record: { $type: 'app.bsky.feed.post', text: `post ${seq}`, createdAt: CREATED_AT } };
    const built = await buildCommitFrame({ seq, did, rev, ops: [op as Parameters<typeof buildCommitFrame>[0]['ops'][number]] });
    frames.push(built.frame);
    const uri = `at://${did}/${op.collection}/${op.rkey}`;
    if (op.action === 'delete') {
      truth.records.delete(uri);
      truth.posts.delete(uri);
      const liked = truth.likes.get(uri);
      if (liked !== undefined) likedBy.get(did)!.delete(liked);
      truth.likes.delete(uri);
      const followed = truth.follows.get(uri);
      if (followed !== undefined) followedBy.get(did)!.delete(followed);
      truth.follows.delete(uri);
      const list = postsOf.get(did)!;
      if (list.includes(uri)) list.splice(list.indexOf(uri), 1);
      continue;
    }
    truth.records.set(uri, built.recordCids[`${op.collection}/${op.rkey}`]!);
    owned.get(did)!.push(uri);
    if (op.collection === 'app.bsky.feed.post') {
      truth.posts.add(uri);
      postsOf.get(did)!.push(uri);
    } else if (op.collection === 'app.bsky.feed.like') {
      const subject = (op.record!['subject'] as { uri: string }).uri;
      truth.likes.set(uri, subject);
      likedBy.get(did)!.add(subject);
    } else {
      const subject = op.record!['subject'] as string;
      truth.follows.set(uri, subject);
      followedBy.get(did)!.add(subject);
    }
  }
  return { dids, frames, truth };
}

/** What the aggregates must say: likes per live post, and per repo its followers, follows and posts. */
export function expectedAggregates(truth: WorkloadTruth, dids: readonly string[]) {
  const likeCount = new Map<string, number>();
  for (const subject of truth.likes.values()) if (truth.posts.has(subject)) likeCount.set(subject, (likeCount.get(subject) ?? 0) + 1);
  const profile = new Map(dids.map((d) => [d, { followersCount: 0, followsCount: 0, postsCount: 0 }]));
  for (const [uri, subject] of truth.follows) {
    profile.get(uri.split('/')[2]!)!.followsCount++;
    profile.get(subject)!.followersCount++;
  }
  for (const uri of truth.posts) profile.get(uri.split('/')[2]!)!.postsCount++;
  return { likeCount, profile };
}
