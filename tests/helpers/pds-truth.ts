// What the PDS holds, read through its public XRPC API (listRecords per collection, paged), and the index rows and
// aggregates a correct pipeline must produce from it. This is the oracle the e2e tests compare Postgres against.
import type { AtpAgent } from '@atproto/api';
import { lexToJson } from '@atproto/lexicon';

export interface TruthRecord {
  uri: string;
  cid: string;
  did: string;
  collection: string;
  value: Record<string, unknown>;
}

export async function readRepoRecords(agent: AtpAgent, did: string): Promise<TruthRecord[]> {
  const { data: repo } = await agent.com.atproto.repo.describeRepo({ repo: did });
  const out: TruthRecord[] = [];
  for (const collection of repo.collections) {
    let cursor: string | undefined;
    do {
      const { data } = await agent.com.atproto.repo.listRecords({ repo: did, collection, limit: 100, cursor });
      for (const r of data.records) out.push({ uri: r.uri, cid: r.cid, did, collection, value: lexToJson(r.value as never) as Record<string, unknown> });
      cursor = data.records.length === 100 ? data.cursor : undefined;
    } while (cursor !== undefined);
  }
  return out;
}

type Ref = { uri: string; cid: string };
const ref = (v: unknown): Ref | undefined => (v !== null && typeof v === 'object' && typeof (v as Ref).uri === 'string' ? (v as Ref) : undefined);

function quotedUri(value: Record<string, unknown>): string | undefined {
  const embed = value['embed'] as Record<string, unknown> | undefined;
  const target = embed?.['$type'] === 'app.bsky.embed.record' ? ref(embed['record'])
    : embed?.['$type'] === 'app.bsky.embed.recordWithMedia' ? ref((embed['record'] as Record<string, unknown> | undefined)?.['record'])
    : undefined;
  return target !== undefined && target.uri.split('/')[3] === 'app.bsky.feed.post' ? target.uri : undefined;
}

export interface ExpectedIndex {
  records: { uri: string; cid: string; json: unknown }[];
  posts: { uri: string; text: string; replyParent: string | null; replyRoot: string | null }[];
  likes: { uri: string; subject: string }[];
  reposts: { uri: string; subject: string }[];
  follows: { uri: string; subjectDid: string }[];
  blocks: { uri: string; subjectDid: string }[];
  profiles: { uri: string; displayName: string | null; description: string | null }[];
  quotes: { uri: string; subject: string }[];
  postAgg: { uri: string; likeCount: number; replyCount: number; repostCount: number; quoteCount: number }[];
  profileAgg: { did: string; followersCount: number; followsCount: number; postsCount: number }[];
}

const byUri = <T extends { uri: string }>(rows: T[]) => rows.sort((a, b) => (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0));

/**
 * One row per subject, as the AppView keeps it: of a repo's likes (reposts, follows, blocks) naming the same subject
 * (a second like written by applyWrites, which skips the PDS's backlink check), the smallest URI holds the row and
 * the counts; the URIs of the others.
 */
export function duplicateUris(records: readonly TruthRecord[]): Set<string> {
  const held = new Map<string, string>();
  const duplicates = new Set<string>();
  for (const r of records) {
    const subject = r.collection === 'app.bsky.feed.like' || r.collection === 'app.bsky.feed.repost' ? ref(r.value['subject'])?.uri
      : r.collection === 'app.bsky.graph.follow' || r.collection === 'app.bsky.graph.block' ? r.value['subject'] : undefined;
    if (typeof subject !== 'string') continue;
    const key = `${r.collection} ${r.did} ${subject}`;
    const holder = held.get(key);
    if (holder === undefined) held.set(key, r.uri);
    else if (r.uri < holder) {
      duplicates.add(holder);
      held.set(key, r.uri);
    } else duplicates.add(r.uri);
  }
  return duplicates;
}

/**
 * `deleted`: DIDs whose deletion was confirmed. A subject of a deleted account no longer exists and has no counts,
 * even where other accounts' likes, reposts, replies, quotes or follows still point at it (the AppView leaves the quote
 * rows naming its posts, and so does the index).
 * `removedPosts`: posts deleted, or updated to another CID, after the quotes of them in the PDS were written. As the
 * AppView does (its deleteFn), that removal deleted their quote rows, and nothing brings them back: a quote row is
 * written when its post is, and a backfill writing the post again at the same CID writes nothing. quoteCount counts
 * the quote rows that remain.
 */
export function expectedIndex(truth: readonly TruthRecord[], deleted: readonly string[] = [], removedPosts: readonly string[] = []): ExpectedIndex {
  const gone = (uriOrDid: string) => deleted.includes(uriOrDid.startsWith('at://') ? uriOrDid.split('/')[2]! : uriOrDid);
  const of = (c: string) => truth.filter((r) => r.collection === c);
  const duplicates = duplicateUris(truth);
  const holders = (records: TruthRecord[]) => records.filter((r) => !duplicates.has(r.uri));
  const posts = of('app.bsky.feed.post');
  const likes = holders(of('app.bsky.feed.like'));
  const reposts = holders(of('app.bsky.feed.repost'));
  const follows = holders(of('app.bsky.graph.follow'));
  const postAgg = new Map<string, { likeCount: number; replyCount: number; repostCount: number; quoteCount: number }>();
  const bump = (uri: string, k: 'likeCount' | 'replyCount' | 'repostCount' | 'quoteCount') => {
    if (gone(uri)) return;
    const row = postAgg.get(uri) ?? { likeCount: 0, replyCount: 0, repostCount: 0, quoteCount: 0 };
    row[k]++;
    postAgg.set(uri, row);
  };
  for (const l of likes) bump(ref(l.value['subject'])!.uri, 'likeCount');
  for (const r of reposts) bump(ref(r.value['subject'])!.uri, 'repostCount');
  for (const p of posts) {
    const parent = ref((p.value['reply'] as Record<string, unknown> | undefined)?.['parent']);
    if (parent !== undefined) bump(parent.uri, 'replyCount');
    const quoted = quotedUri(p.value);
    if (quoted !== undefined && !removedPosts.includes(quoted)) bump(quoted, 'quoteCount');
  }
  const profileAgg = new Map<string, { followersCount: number; followsCount: number; postsCount: number }>();
  const bumpP = (did: string, k: 'followersCount' | 'followsCount' | 'postsCount') => {
    if (gone(did)) return;
    const row = profileAgg.get(did) ?? { followersCount: 0, followsCount: 0, postsCount: 0 };
    row[k]++;
    profileAgg.set(did, row);
  };
  for (const f of follows) {
    bumpP(f.value['subject'] as string, 'followersCount');
    bumpP(f.did, 'followsCount');
  }
  for (const p of posts) bumpP(p.did, 'postsCount');
  return {
    records: byUri(truth.map((r) => ({ uri: r.uri, cid: r.cid, json: r.value }))),
    posts: byUri(posts.map((p) => {
      const reply = p.value['reply'] as Record<string, unknown> | undefined;
      return { uri: p.uri, text: p.value['text'] as string, replyParent: ref(reply?.['parent'])?.uri ?? null, replyRoot: ref(reply?.['root'])?.uri ?? null };
    })),
    likes: byUri(likes.map((l) => ({ uri: l.uri, subject: ref(l.value['subject'])!.uri }))),
    reposts: byUri(reposts.map((r) => ({ uri: r.uri, subject: ref(r.value['subject'])!.uri }))),
    follows: byUri(follows.map((f) => ({ uri: f.uri, subjectDid: f.value['subject'] as string }))),
    blocks: byUri(holders(of('app.bsky.graph.block')).map((b) => ({ uri: b.uri, subjectDid: b.value['subject'] as string }))),
    profiles: byUri(of('app.bsky.actor.profile').map((p) => ({
      uri: p.uri, displayName: (p.value['displayName'] as string | undefined) ?? null, description: (p.value['description'] as string | undefined) ?? null,
    }))),
    quotes: byUri(posts.flatMap((p) => {
      const q = quotedUri(p.value);
      return q === undefined || removedPosts.includes(q) ? [] : [{ uri: p.uri, subject: q }];
    })),
    postAgg: [...postAgg].map(([uri, c]) => ({ uri, ...c })).sort((a, b) => (a.uri < b.uri ? -1 : 1)),
    profileAgg: [...profileAgg].map(([did, c]) => ({ did, ...c })).sort((a, b) => (a.did < b.did ? -1 : 1)),
  };
}

/** The expected index for these accounts, read from their PDS now (`removedPosts`: see expectedIndex). */
export async function readTruth(
  users: readonly { agent: AtpAgent; did: string }[], deleted: readonly string[] = [], removedPosts: readonly string[] = [],
): Promise<ExpectedIndex> {
  const records: TruthRecord[] = [];
  for (const u of users) records.push(...(await readRepoRecords(u.agent, u.did)));
  return expectedIndex(records, deleted, removedPosts);
}
