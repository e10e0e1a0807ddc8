// An independent model of what the index must hold: stream events applied ONE AT A TIME, in memory, by the rules
// the README states, into the expected rows of each table and the exact counts. It shares no code with functions/index
// beyond the event types: the rev order, the account rule, handle claims, typed rows and counts are written out
// again here, the plain way, so that a mistake in the batched SQL cannot hide behind the same mistake in the oracle.
//
// The rules, as modelled:
// - A record op applies when it is after the stored op of its URI in the order (rev, delete over write, cid); a
//   delete leaves a tombstone. The typed rows are a function of the live records; the counts are counted from them.
// - #account changes of a DID apply only when not older (by time) than the last one applied. A write counts only
//   when the account is active at the write's time by the changes applied before it; deletes always count.
// - A confirmed deletion removes every row of the DID; until a restore, no event of it counts and its subjects have
//   no counts. A restore (a valid repo served) makes it active at that time and its snapshot rev a floor: record
//   ops older than the floor do not count.
// - An actor row exists for every DID seen since it was last purged; #identity sets its handle (one holder per handle).
import type { StreamEvent } from '../../functions/events.ts';

interface Change {
  time: string;
  active: boolean;
  status: string | null;
}

interface StoredRecord {
  did: string;
  collection: string;
  rkey: string;
  rev: string;
  cid: string;
  /** null: a tombstone. */
  record: Record<string, unknown> | null;
  json: string;
  time: string;
}

interface Account {
  changes: Change[];
  deleted: boolean;
  floor: string | null;
}

const HANDLE = /^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;

export class IndexModel {
  readonly records = new Map<string, StoredRecord>();
  readonly accounts = new Map<string, Account>();
  readonly actors = new Map<string, { handle: string | null; upstreamStatus: string | null }>();
  readonly sync = new Map<string, { commitCid: string; repoRev: string }>();

  private account(did: string): Account {
    let a = this.accounts.get(did);
    if (a === undefined) this.accounts.set(did, (a = { changes: [], deleted: false, floor: null }));
    return a;
  }

  private seen(did: string): void {
    if (!this.actors.has(did)) this.actors.set(did, { handle: null, upstreamStatus: null });
  }

  private activeAt(did: string, time: string): boolean {
    const changes = this.account(did).changes;
    for (let i = changes.length - 1; i >= 0; i--) if (changes[i]!.time <= time) return changes[i]!.active;
    return true;
  }

  /** Applies a change by the time rule; true when it became the current one. */
  private change(did: string, change: Change): boolean {
    const a = this.account(did);
    const last = a.changes.at(-1);
    if (last !== undefined && change.time < last.time) return false;
    a.changes.push(change);
    return true;
  }

  apply(e: StreamEvent): void {
    const a = this.account(e.did);
    if (e.type === 'account') {
      const change = { time: new Date(e.time).toISOString(), active: e.active, status: e.active ? null : (e.status ?? 'inactive') };
      if (a.deleted) {
        this.change(e.did, change);
        return;
      }
      this.seen(e.did);
      if (this.change(e.did, change)) this.actors.get(e.did)!.upstreamStatus = change.status;
      return;
    }
    if (a.deleted) return;
    this.seen(e.did);
    if (e.type === 'identity') {
      const raw = e.handle?.toLowerCase();
      const handle = raw !== undefined && raw !== 'handle.invalid' && HANDLE.test(raw) ? raw : null;
      if (handle !== null) for (const [did, actor] of this.actors) if (did !== e.did && actor.handle === handle) actor.handle = null;
      this.actors.get(e.did)!.handle = handle;
      return;
    }
    if (e.type === 'repo') {
      this.noteCommit(e.did, e.rev, e.commit);
      return;
    }
    if (a.floor !== null && e.rev < a.floor) return;
    if (e.type !== 'delete' && !this.activeAt(e.did, new Date(e.time).toISOString())) return;
    this.noteCommit(e.did, e.rev, e.commit);
    const uri = `at://${e.did}/${e.collection}/${e.rkey}`;
    const next: StoredRecord = {
      did: e.did, collection: e.collection, rkey: e.rkey, rev: e.rev, time: e.time,
      cid: e.type === 'delete' ? '' : e.cid,
      record: e.type === 'delete' ? null : (e.record as Record<string, unknown>),
      json: e.type === 'delete' ? '' : JSON.stringify(e.record),
    };
    const current = this.records.get(uri);
    if (current === undefined || isAfter(next, current)) this.records.set(uri, next);
  }

  /** The PDS confirmed the deletion at `time`. */
  confirmDeletion(did: string, time: string): void {
    const a = this.account(did);
    const last = a.changes.at(-1);
    const change = { time: last !== undefined && last.time > time ? last.time : time, active: false, status: 'deleted' };
    if (!(last !== undefined && last.time === change.time && !last.active && last.status === 'deleted')) a.changes.push(change);
    a.deleted = true;
    for (const [uri, r] of this.records) if (r.did === did) this.records.delete(uri);
    this.actors.delete(did);
    this.sync.delete(did);
  }

  /** Its PDS serves a valid repo again at `time`: the marker goes, and the repo's events follow (apply them next). */
  restore(did: string, time: string): void {
    const a = this.account(did);
    a.deleted = false;
    a.floor = null;
    if (this.change(did, { time, active: true, status: null })) {
      this.seen(did);
      this.actors.get(did)!.upstreamStatus = null;
    }
  }

  /** The repo's snapshot at `rev` is indexed: nothing older counts any more. */
  synchronized(did: string, rev: string): void {
    this.account(did).floor = rev;
  }

  private noteCommit(did: string, rev: string, commit: string): void {
    const prev = this.sync.get(did);
    if (prev === undefined || rev > prev.repoRev || (rev === prev.repoRev && commit > prev.commitCid)) this.sync.set(did, { commitCid: commit, repoRev: rev });
  }

  /** The rows every table must hold, in the shapes `dumpModelTables` reads from Postgres. */
  expected(): Record<string, unknown[]> {
    const byKey = <T>(rows: T[], key: (r: T) => string) => rows.sort((x, y) => (key(x) < key(y) ? -1 : key(x) > key(y) ? 1 : 0));
    const live = [...this.records].filter(([, r]) => r.record !== null) as [string, StoredRecord & { record: Record<string, unknown> }][];
    const deleted = (did: string) => this.accounts.get(did)?.deleted === true;
    const of = (collection: string) => live.filter(([, r]) => r.collection === collection);
    const posts = of('app.bsky.feed.post').flatMap(([uri, r]) => {
      if (typeof r.record['text'] !== 'string') return [];
      const reply = r.record['reply'] as { root?: Ref; parent?: Ref } | undefined;
      if (reply !== undefined && (!isRef(reply.root) || !isRef(reply.parent))) return [];
      return [{ uri, r, replyParent: reply?.parent?.uri ?? null, replyRoot: reply?.root?.uri ?? null }];
    });
    const refs = (collection: string) => of(collection).flatMap(([uri, r]) => (isRef(r.record['subject']) ? [{ uri, creator: r.did, subject: (r.record['subject'] as Ref).uri }] : []));
    const dids = (collection: string) =>
      of(collection).flatMap(([uri, r]) => (typeof r.record['subject'] === 'string' && r.record['subject'].startsWith('did:') ? [{ uri, creator: r.did, subjectDid: r.record['subject'] }] : []));
    const likes = refs('app.bsky.feed.like');
    const reposts = refs('app.bsky.feed.repost');
    const follows = dids('app.bsky.graph.follow');
    type Embed = { kind: 'record'; postUri: string; target: string } | { kind: 'image'; postUri: string; position: string; imageCid: string; alt: string };
    const embeds = posts.flatMap((p): Embed[] => {
      const embed = p.r.record['embed'] as { $type?: string; record?: Ref; images?: { alt?: string; image?: { ref?: { $link?: string } } }[] } | undefined;
      if (embed?.$type === 'app.bsky.embed.record' && isRef(embed.record)) return [{ kind: 'record' as const, postUri: p.uri, target: embed.record.uri }];
      if (embed?.$type === 'app.bsky.embed.images') {
        return (embed.images ?? []).map((img, i) => ({ kind: 'image' as const, postUri: p.uri, position: String(i), imageCid: img.image?.ref?.$link ?? '', alt: img.alt ?? '' }));
      }
      return [];
    });
    const quotes = embeds.flatMap((e) => (e.kind === 'record' && e.target.split('/')[3] === 'app.bsky.feed.post' ? [{ uri: e.postUri, subject: e.target }] : []));

    const postAgg = new Map<string, { likeCount: number; replyCount: number; repostCount: number; quoteCount: number }>();
    const bump = (uri: string, k: 'likeCount' | 'replyCount' | 'repostCount' | 'quoteCount') => {
      if (deleted(uri.split('/')[2]!)) return;
      const row = postAgg.get(uri) ?? { likeCount: 0, replyCount: 0, repostCount: 0, quoteCount: 0 };
      row[k]++;
      postAgg.set(uri, row);
    };
    for (const l of likes) bump(l.subject, 'likeCount');
    for (const r of reposts) bump(r.subject, 'repostCount');
    for (const p of posts) if (p.replyParent !== null) bump(p.replyParent, 'replyCount');
    for (const q of quotes) bump(q.subject, 'quoteCount');
    const profileAgg = new Map<string, { followersCount: number; followsCount: number; postsCount: number }>();
    const bumpP = (did: string, k: 'followersCount' | 'followsCount' | 'postsCount') => {
      if (deleted(did)) return;
      const row = profileAgg.get(did) ?? { followersCount: 0, followsCount: 0, postsCount: 0 };
      row[k]++;
      profileAgg.set(did, row);
    };
    for (const f of follows) {
      bumpP(f.subjectDid, 'followersCount');
      bumpP(f.creator, 'followsCount');
    }
    for (const p of posts) bumpP(p.r.did, 'postsCount');

    return {
      record: byKey([...this.records].map(([uri, r]) => ({ uri, cid: r.cid, did: r.did, json: r.json, rev: r.rev, indexedAt: r.time })), (r) => r.uri),
      actor: byKey([...this.actors].map(([did, a]) => ({ did, handle: a.handle, upstreamStatus: a.upstreamStatus })), (r) => r.did),
      actor_sync: byKey([...this.sync].map(([did, s]) => ({ did, ...s })), (r) => r.did),
      post: byKey(posts.map((p) => ({ uri: p.uri, creator: p.r.did, text: p.r.record['text'], replyParent: p.replyParent, replyRoot: p.replyRoot })), (r) => r.uri),
      quote: byKey(quotes, (r) => r.uri),
      post_embed_record: byKey(embeds.flatMap((e) => (e.kind === 'record' ? [{ postUri: e.postUri, embedUri: e.target }] : [])), (r) => r.postUri),
      post_embed_image: byKey(embeds.flatMap((e) => (e.kind === 'image' ? [{ postUri: e.postUri, position: e.position, imageCid: e.imageCid, alt: e.alt }] : [])), (r) => `${r.postUri} ${r.position}`),
      feed_item: byKey(
        [...posts.map((p) => ({ uri: p.uri, type: 'post', postUri: p.uri, originatorDid: p.r.did })), ...reposts.map((r) => ({ uri: r.uri, type: 'repost', postUri: r.subject, originatorDid: r.creator }))],
        (r) => r.uri,
      ),
      like: byKey(likes, (r) => r.uri),
      repost: byKey(reposts, (r) => r.uri),
      follow: byKey(follows, (r) => r.uri),
      actor_block: byKey(dids('app.bsky.graph.block'), (r) => r.uri),
      profile: byKey(
        of('app.bsky.actor.profile').flatMap(([uri, r]) => (r.rkey === 'self' ? [{ uri, creator: r.did, displayName: (r.record['displayName'] as string | undefined) ?? null }] : [])),
        (r) => r.uri,
      ),
      post_agg: byKey([...postAgg].map(([uri, c]) => ({ uri, ...c })), (r) => r.uri),
      profile_agg: byKey([...profileAgg].map(([did, c]) => ({ did, ...c })), (r) => r.did),
      account_state: byKey(
        [...this.accounts].flatMap(([did, a]) => {
          const last = a.changes.at(-1);
          return last === undefined ? [] : [{ did, active: last.active, status: last.status }];
        }),
        (r) => r.did,
      ),
      deleted: [...this.accounts].filter(([, a]) => a.deleted).map(([did]) => ({ did })).sort((x, y) => (x.did < y.did ? -1 : 1)),
    };
  }
}

type Ref = { uri: string; cid: string };

function isRef(v: unknown): v is Ref {
  return typeof v === 'object' && v !== null && typeof (v as Ref).uri === 'string' && typeof (v as Ref).cid === 'string' && (v as Ref).cid.length > 0;
}

/** The order of ops on one URI: rev, then a delete after a write, then the larger CID. */
function isAfter(next: StoredRecord, current: StoredRecord): boolean {
  if (next.rev !== current.rev) return next.rev > current.rev;
  const nd = next.record === null;
  const cd = current.record === null;
  if (nd !== cd) return nd;
  return next.cid > current.cid;
}

/** The same projections, read from Postgres. */
export const MODEL_QUERIES: Record<string, string> = {
  record: `select uri, cid, did, json, rev, "indexedAt" from record order by uri`,
  actor: `select did, handle, "upstreamStatus" from actor order by did`,
  actor_sync: `select did, "commitCid", "repoRev" from actor_sync order by did`,
  post: `select uri, creator, text, "replyParent", "replyRoot" from post order by uri`,
  quote: `select uri, subject from quote order by uri`,
  post_embed_record: `select "postUri", "embedUri" from post_embed_record order by "postUri"`,
  post_embed_image: `select "postUri", position, "imageCid", alt from post_embed_image order by "postUri", position`,
  feed_item: `select uri, type, "postUri", "originatorDid" from feed_item order by uri`,
  like: `select uri, creator, subject from "like" order by uri`,
  repost: `select uri, creator, subject from repost order by uri`,
  follow: `select uri, creator, "subjectDid" from follow order by uri`,
  actor_block: `select uri, creator, "subjectDid" from actor_block order by uri`,
  profile: `select uri, creator, "displayName" from profile order by uri`,
  // A zero row and no row are the same count; which one exists depends on history. (Deleted accounts' subjects are
  // checked separately: they must have no row at all.)
  post_agg: `select uri, "likeCount", "replyCount", "repostCount", "quoteCount" from post_agg
    where "likeCount" <> 0 or "replyCount" <> 0 or "repostCount" <> 0 or "quoteCount" <> 0 order by uri`,
  profile_agg: `select did, "followersCount", "followsCount", "postsCount" from profile_agg
    where "followersCount" <> 0 or "followsCount" <> 0 or "postsCount" <> 0 order by did`,
  account_state: `select did, active, status from account_state order by did`,
  deleted: `select did from repo_sync where status = 'deleted' order by did`,
};
