// An independent model of what the index must hold: stream events applied ONE AT A TIME, in memory, by the rules
// the README states, into the expected rows of each table and the exact counts. It shares no code with functions/index
// beyond the event types: the rev order, the account rule, handle claims, typed rows and counts are written out
// again here, the plain way, so that a mistake in the batched SQL cannot hide behind the same mistake in the oracle.
//
// The rules, as modelled:
// - A record op applies when it is after the stored op of its URI in the order (rev, delete over write, cid); a
//   delete leaves a tombstone. The typed rows are a function of the live records; the counts are counted from them.
// - #account changes of a DID apply only when not older (by time) than the last one applied. A write counts only
//   when the account is active at the write's time by the changes applied before it, of which the latest 16 are
//   kept (older than all of those: active); deletes always count.
// - A confirmed deletion removes every row of the DID; until a restore, no event of it counts and its subjects have
//   no counts. A restore (a valid repo served) makes it active at that time and its snapshot rev a floor: writes
//   older than the floor do not count; deletes older than it still go through the rev order.
// - An actor row exists for every DID seen since it was last purged; #identity sets its handle (one holder per handle).
// - One row per subject in like, repost, follow, actor_block, list_item and list_block: of a repo's live records
//   naming the same subject, the smallest URI holds the row (counts, feed item, notifications); the others are its
//   duplicates. When the holder changes, the old one's notifications go and the new one's are written. A holder
//   follow, like or repost updated to name the same account or post keeps its notifications.
// - Quote rows are state, as in the AppView: a post written with a new CID (created, or updated to another CID) that
//   quotes a post gets one; a post removed (deleted, or updated to another CID) loses its own and every quote row
//   naming it, and a write of the CID a post already has changes nothing of it at all (its rows, flags and
//   notifications stay). An account's deletion removes its own posts' quote rows only. quoteCount counts the rows.
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

/** Account changes kept per DID (README.md, Accounts). */
const KEPT_CHANGES = 16;
const keep = (changes: Change[]) => {
  if (changes.length > KEPT_CHANGES) changes.splice(0, changes.length - KEPT_CHANGES);
};

const THREADGATE = 'app.bsky.feed.threadgate';
const POSTGATE = 'app.bsky.feed.postgate';

export interface Notification {
  did: string;
  recordUri: string;
  author: string;
  reason: string;
  reasonSubject: string | null;
}

const didOf = (uri: string) => uri.split('/')[2] ?? '';

/** The AppView's insertFn checks, written apart from the index's: the authority and rkey, or the list's author. */
function refusedByAppView(did: string, collection: string, rkey: string, record: Record<string, unknown>): boolean {
  if (collection === THREADGATE || collection === POSTGATE) {
    const parts = typeof record['post'] === 'string' ? record['post'].split('/') : [];
    return parts[2] !== did || parts[4] !== rkey;
  }
  if (collection === 'app.bsky.graph.listitem') return typeof record['list'] !== 'string' || didOf(record['list']) !== did;
  return false;
}
const isoOf = (v: unknown) => {
  const ms = typeof v === 'string' ? Date.parse(v) : NaN;
  return Number.isNaN(ms) ? '1970-01-01T00:00:00.000Z' : new Date(ms).toISOString();
};
const isDid = (v: unknown): v is string => typeof v === 'string' && v.startsWith('did:');
const isAtUri = (v: unknown): v is string => typeof v === 'string' && /^at:\/\/did:[a-z]+:[a-z0-9]+(\/[a-zA-Z.]+(\/[a-zA-Z0-9]+)?)?$/.test(v);

/** The subject a record of a one-row-per-subject collection names (with its creator), or undefined. */
function subjectKey(did: string, collection: string, rec: Record<string, unknown>): string | undefined {
  switch (collection) {
    case 'app.bsky.feed.like': case 'app.bsky.feed.repost':
      return isRef(rec['subject']) ? `${did} ${(rec['subject'] as Ref).uri}` : undefined;
    case 'app.bsky.graph.follow': case 'app.bsky.graph.block':
      return isDid(rec['subject']) ? `${did} ${rec['subject']}` : undefined;
    case 'app.bsky.graph.listitem':
      return isDid(rec['subject']) && isAtUri(rec['list']) && didOf(rec['list']) === did ? `${rec['list']} ${rec['subject']}` : undefined;
    case 'app.bsky.graph.listblock':
      return isAtUri(rec['subject']) ? `${did} ${rec['subject']}` : undefined;
    default:
      return undefined;
  }
}

const HANDLE = /^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;

export class IndexModel {
  /** True when the AppView's own lexicon schemas accept a record (tests/helpers/appview-lexicons.ts). */
  private readonly accepts: (collection: string, record: unknown) => boolean;
  constructor(accepts: (collection: string, record: unknown) => boolean) {
    this.accepts = accepts;
  }
  readonly records = new Map<string, StoredRecord>();
  readonly accounts = new Map<string, Account>();
  readonly actors = new Map<string, { handle: string | null; upstreamStatus: string | null }>();
  readonly sync = new Map<string, { commitCid: string; repoRev: string }>();
  /** Every gate version seen, per `kind postUri`: a delete or a gate naming another post is a version without rules. */
  readonly gates = new Map<string, { createdAt: string; cid: string; record: Record<string, unknown> | null; rev: string }[]>();
  /**
   * hasThreadGate / hasPostGate of each post row, as events set them: a post written starts true under a gate row and
   * unset (null) without; a gate row written while its post exists makes it true, one removed makes it false.
   */
  private readonly gateFlags = new Map<string, { thread: boolean | null; post: boolean | null }>();
  /** The notifications written so far (a multiset). */
  notifications: Notification[] = [];
  /** The last verdict of each quote's version (keyed by the stored record, so a new version starts afresh). */
  private readonly quoteVerdicts = new WeakMap<StoredRecord, boolean>();
  /** The quote rows: quoting post -> the post it quotes. */
  private readonly quoteRows = new Map<string, string>();

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
    keep(a.changes);
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
    if (e.type !== 'delete' && a.floor !== null && e.rev < a.floor) return;
    if (e.type !== 'delete' && !this.activeAt(e.did, new Date(e.time).toISOString())) return;
    this.noteCommit(e.did, e.rev, e.commit);
    // A write its lexicon refuses is not indexed and changes nothing (the AppView's rule); its commit was seen.
    if (e.type !== 'delete' && !this.accepts(e.collection, e.record)) return;
    // Nor one the AppView's insert refuses: a gate whose post is not in its repo at its rkey, a list item of another's
    // list (its insertFn throws; the event is rolled back).
    if (e.type !== 'delete' && refusedByAppView(e.did, e.collection, e.rkey, e.record as Record<string, unknown>)) return;
    const uri = `at://${e.did}/${e.collection}/${e.rkey}`;
    const next: StoredRecord = {
      did: e.did, collection: e.collection, rkey: e.rkey, rev: e.rev, time: e.time,
      cid: e.type === 'delete' ? '' : e.cid,
      record: e.type === 'delete' ? null : (e.record as Record<string, unknown>),
      json: e.type === 'delete' ? 'null' : JSON.stringify(e.record),
    };
    if (e.collection === THREADGATE || e.collection === POSTGATE) this.noteGate(uri, e.collection, next);
    const current = this.records.get(uri);
    if (current === undefined || isAfter(next, current)) {
      if (e.collection === 'app.bsky.feed.post' && current?.record != null && next.record !== null && current.cid === next.cid) {
        // The version it has, written again (a backfill, a replay): nothing of the post changes.
        this.records.set(uri, next);
        const verdict = this.quoteVerdicts.get(current);
        if (verdict !== undefined) this.quoteVerdicts.set(next, verdict);
        this.settleNotifications();
        return;
      }
      if (e.collection === 'app.bsky.feed.post' && (next.record === null || current?.record != null)) {
        // A removal: its own quote row and those naming it.
        this.quoteRows.delete(uri);
        for (const [q, subject] of [...this.quoteRows]) if (subject === uri) this.quoteRows.delete(q);
      }
      const before = current === undefined ? undefined : this.typed(uri, current);
      const keys = [current, next].flatMap((r) => (r?.record == null ? [] : [subjectKey(e.did, e.collection, r.record)])).filter((k) => k !== undefined);
      const heldBefore = keys.map((k) => this.holderOf(e.collection, k));
      this.records.set(uri, next);
      if (e.collection === 'app.bsky.feed.post') {
        const quoted = this.livePost(uri)?.quoted;
        if (quoted !== undefined && quoted !== null) this.quoteRows.set(uri, quoted);
      }
      this.noteGateFlags(uri, current, next);
      // A profile created (nothing live before it) saying it joined through a starter pack notifies the pack's creator.
      const pack = (next.record?.['joinedViaStarterPack'] as { uri?: unknown } | undefined)?.uri;
      if ((current === undefined || current.record === null) && e.collection === 'app.bsky.actor.profile' && e.rkey === 'self' && typeof pack === 'string') {
        this.notifications.push({ did: didOf(pack), recordUri: uri, author: e.did, reason: 'starterpack-joined', reasonSubject: pack });
      }
      if (keys.length === 0) this.changed(uri, before, this.typed(uri, next), e.time);
      else {
        // Only holders notify: per subject the record named (before, then after), a change of holder moves them.
        const seen = new Set<string>();
        keys.forEach((k, i) => {
          if (seen.has(k)) return;
          seen.add(k);
          const was = heldBefore[i];
          const now = this.holderOf(e.collection, k);
          if (was === now) {
            if (now === uri) this.changed(uri, before, this.typed(uri, next), e.time);
            return;
          }
          if (was !== undefined) this.changed(was, was === uri ? before : this.typed(was, this.records.get(was)!), undefined, e.time);
          if (now !== undefined) this.changed(now, undefined, this.typed(now, this.records.get(now)!), e.time);
        });
      }
    }
    this.settleNotifications();
  }

  private noteGate(uri: string, collection: string, next: StoredRecord): void {
    const postUri = `at://${next.did}/app.bsky.feed.post/${next.rkey}`;
    const key = `${collection === THREADGATE ? 'thread' : 'post'} ${postUri}`;
    const valid = next.record !== null && next.record['post'] === postUri;
    const version = valid
      ? { createdAt: isoOf(next.record!['createdAt']), cid: next.cid, record: next.record, rev: next.rev }
      : { createdAt: new Date(next.time).toISOString(), cid: next.cid, record: null, rev: next.rev };
    const list = this.gates.get(key) ?? [];
    if (!list.some((v) => v.createdAt === version.createdAt && v.cid === version.cid)) list.push(version);
    this.gates.set(key, list);
    void uri;
  }

  private noteGateFlags(uri: string, current: StoredRecord | undefined, next: StoredRecord): void {
    const postUri = `at://${next.did}/app.bsky.feed.post/${next.rkey}`;
    const gateRow = (collection: string, r: StoredRecord | undefined) => r?.record?.['post'] === postUri && r.collection === collection;
    if (next.collection === 'app.bsky.feed.post') {
      const gate = (collection: string) => (gateRow(collection, this.records.get(`at://${next.did}/${collection}/${next.rkey}`)) ? true : null);
      if (this.livePost(uri) === undefined) this.gateFlags.delete(uri);
      else this.gateFlags.set(uri, { thread: gate(THREADGATE), post: gate(POSTGATE) });
      return;
    }
    if (next.collection !== THREADGATE && next.collection !== POSTGATE) return;
    const flags = this.gateFlags.get(postUri);
    const was = gateRow(next.collection, current);
    const is = gateRow(next.collection, next);
    if (flags !== undefined && (was || is)) flags[next.collection === THREADGATE ? 'thread' : 'post'] = is;
  }

  /** The gate record in force at `time` for `kind postUri`. */
  private gateAt(key: string, time: string): Record<string, unknown> | null {
    // The latest created by `time`; of two created at once, the one the repo wrote last (rev), then the larger CID.
    let best: { createdAt: string; cid: string; record: Record<string, unknown> | null; rev: string } | undefined;
    for (const v of this.gates.get(key) ?? []) {
      if (v.createdAt > time) continue;
      const later = best === undefined || v.createdAt > best.createdAt
        || (v.createdAt === best.createdAt && (v.rev > best.rev || (v.rev === best.rev && v.cid > best.cid)));
      if (later) best = v;
    }
    return best?.record ?? null;
  }

  /** A live post as the index holds it: its reply refs and quote, or undefined when there is none at `uri`. */
  private livePost(uri: string): { creator: string; parent: string | null; root: string | null; quoted: string | null; createdAt: string } | undefined {
    const r = this.records.get(uri);
    if (r === undefined || r.record === null || r.collection !== 'app.bsky.feed.post' || typeof r.record['text'] !== 'string') return undefined;
    const reply = r.record['reply'] as { root?: Ref; parent?: Ref } | undefined;
    if (reply !== undefined && (!isRef(reply.root) || !isRef(reply.parent))) return undefined;
    const embed = r.record['embed'] as { $type?: string; record?: Ref } | undefined;
    const quoted = embed?.$type === 'app.bsky.embed.record' && isRef(embed.record) && embed.record.uri.split('/')[3] === 'app.bsky.feed.post' ? embed.record.uri : null;
    return { creator: r.did, parent: reply?.parent?.uri ?? null, root: reply?.root?.uri ?? null, quoted, createdAt: isoOf(r.record['createdAt']) };
  }

  private replyVerdicts(uri: string): { invalidReplyRoot: boolean | null; violatesThreadGate: boolean | null } {
    const invalidReplyRoot = this.invalidReplyRoot(uri);
    const violatesThreadGate = this.violatesThreadGate(uri);
    return invalidReplyRoot || violatesThreadGate ? { invalidReplyRoot, violatesThreadGate } : { invalidReplyRoot: null, violatesThreadGate: null };
  }

  violatesThreadGate(uri: string): boolean {
    const p = this.livePost(uri);
    if (p === undefined || p.root === null || p.creator === didOf(p.root)) return false;
    const allow = this.gateAt(`thread ${p.root}`, p.createdAt)?.['allow'];
    return Array.isArray(allow) && allow.length === 0;
  }

  violatesEmbeddingRules(uri: string): boolean {
    const p = this.livePost(uri);
    if (p === undefined || p.quoted === null || p.creator === didOf(p.quoted)) return false;
    const rules = this.gateAt(`post ${p.quoted}`, p.createdAt)?.['embeddingRules'];
    return Array.isArray(rules) && rules.some((r) => (r as { $type?: string }).$type === 'app.bsky.feed.postgate#disableRule');
  }

  invalidReplyRoot(uri: string, seen = new Set<string>()): boolean {
    const p = this.livePost(uri);
    if (p === undefined || p.parent === null) return false;
    if (seen.has(uri)) return true;
    seen.add(uri);
    const parent = this.livePost(p.parent);
    if (parent === undefined || this.invalidReplyRoot(p.parent, seen)) return true;
    if (p.parent === p.root) return parent.root !== null;
    return parent.root !== p.root;
  }

  /** The live record holding a subject: the smallest URI of those naming it. */
  private holderOf(collection: string, key: string): string | undefined {
    let holder: string | undefined;
    for (const [uri, r] of this.records) {
      if (r.collection !== collection || r.record === null || subjectKey(r.did, collection, r.record) !== key) continue;
      if (holder === undefined || uri < holder) holder = uri;
    }
    return holder;
  }

  /** The typed row a record has (what the plugins would write), for the notification effects of a change. */
  private typed(uri: string, r: StoredRecord): { kind: string; subject: string; via: string | null } | undefined {
    if (r.record === null) return undefined;
    const rec = r.record;
    switch (r.collection) {
      case 'app.bsky.feed.like': case 'app.bsky.feed.repost':
        return isRef(rec['subject']) ? { kind: r.collection, subject: (rec['subject'] as Ref).uri, via: isRef(rec['via']) ? (rec['via'] as Ref).uri : null } : undefined;
      case 'app.bsky.graph.follow':
        return typeof rec['subject'] === 'string' && rec['subject'].startsWith('did:') ? { kind: r.collection, subject: rec['subject'], via: null } : undefined;
      case 'app.bsky.graph.verification':
        return typeof rec['subject'] === 'string' && rec['subject'].startsWith('did:') && typeof rec['handle'] === 'string' && typeof rec['displayName'] === 'string'
          ? { kind: r.collection, subject: rec['subject'], via: null } : undefined;
      case 'app.bsky.feed.post':
        return this.livePost(uri) === undefined ? undefined : { kind: r.collection, subject: '', via: null };
      default:
        return undefined;
    }
  }

  private changed(uri: string, before: ReturnType<IndexModel['typed']>, after: ReturnType<IndexModel['typed']>, _time: string): void {
    const creator = didOf(uri);
    // A follow, like or repost updated and still naming the same account or post keeps the notifications its first
    // version made (the AppView's update deletes and makes none; a via added or changed notifies nobody); one that
    // names another now notifies as a new one.
    const keeps = ['app.bsky.graph.follow', 'app.bsky.feed.like', 'app.bsky.feed.repost'];
    if (before !== undefined && after !== undefined && keeps.includes(before.kind) && before.kind === after.kind && before.subject === after.subject) return;
    if (before !== undefined) {
      if (before.kind === 'app.bsky.graph.verification') this.notifications.push({ did: before.subject, recordUri: uri, author: creator, reason: 'unverified', reasonSubject: null });
      else this.notifications = this.notifications.filter((n) => n.recordUri !== uri);
    }
    if (after === undefined) return;
    const add = (did: string, reason: string, reasonSubject: string | null) => this.notifications.push({ did, recordUri: uri, author: creator, reason, reasonSubject });
    switch (after.kind) {
      case 'app.bsky.feed.like': case 'app.bsky.feed.repost': {
        const reason = after.kind === 'app.bsky.feed.like' ? 'like' : 'repost';
        if (didOf(after.subject) === creator) break;
        add(didOf(after.subject), reason, after.subject);
        if (after.via !== null && didOf(after.via) !== creator) add(didOf(after.via), `${reason}-via-repost`, after.via);
        break;
      }
      case 'app.bsky.graph.follow':
        add(after.subject, 'follow', null);
        break;
      case 'app.bsky.graph.verification':
        // Indexed where nothing was (created, or created again after a delete); an edit notifies only 'unverified'.
        if (before === undefined) add(after.subject, 'verified', null);
        break;
      case 'app.bsky.feed.post': {
        const p = this.livePost(uri)!;
        if (p.quoted !== null && p.creator !== didOf(p.quoted) && !this.violatesEmbeddingRules(uri)) add(didOf(p.quoted), 'quote', p.quoted);
        break;
      }
    }
  }

  /** The notifications that follow from the posts present: replies to a present parent, verdicts that changed. */
  private settleNotifications(): void {
    for (const [uri, r] of this.records) {
      if (r.collection !== 'app.bsky.feed.post') continue;
      const p = this.livePost(uri);
      if (p === undefined) continue;
      const has = (did: string) => this.notifications.some((n) => n.recordUri === uri && n.did === did);
      if (p.parent !== null) {
        if (this.violatesThreadGate(uri)) this.notifications = this.notifications.filter((n) => !(n.recordUri === uri && n.reason === 'reply'));
        else if (this.livePost(p.parent) !== undefined && didOf(p.parent) !== p.creator && !has(didOf(p.parent))) {
          this.notifications.push({ did: didOf(p.parent), recordUri: uri, author: p.creator, reason: 'reply', reasonSubject: p.parent });
        }
      }
      if (p.quoted !== null && p.creator !== didOf(p.quoted)) {
        // A quote notifies when it is indexed (changed()) and again only when its verdict turns to allowed: a
        // notification removed otherwise (its recipient's account deleted) does not come back.
        const violates = this.violatesEmbeddingRules(uri);
        const before = this.quoteVerdicts.get(r);
        this.quoteVerdicts.set(r, violates);
        if (violates) this.notifications = this.notifications.filter((n) => !(n.recordUri === uri && n.reason === 'quote'));
        else if (before === true && !has(didOf(p.quoted))) this.notifications.push({ did: didOf(p.quoted), recordUri: uri, author: p.creator, reason: 'quote', reasonSubject: p.quoted });
      }
    }
  }

  /** The PDS confirmed the deletion at `time`. */
  confirmDeletion(did: string, time: string): void {
    const a = this.account(did);
    const last = a.changes.at(-1);
    const change = { time: last !== undefined && last.time > time ? last.time : time, active: false, status: 'deleted' };
    if (!(last !== undefined && last.time === change.time && !last.active && last.status === 'deleted')) {
      a.changes.push(change);
      keep(a.changes);
    }
    a.deleted = true;
    for (const [uri, r] of this.records) if (r.did === did) this.records.delete(uri);
    // Its posts' own quote rows; those of other accounts' posts naming its posts stay, as in the AppView.
    for (const uri of [...this.quoteRows.keys()]) if (didOf(uri) === did) this.quoteRows.delete(uri);
    for (const uri of [...this.gateFlags.keys()]) if (didOf(uri) === did) this.gateFlags.delete(uri);
    for (const key of [...this.gates.keys()]) if (didOf(key.split(' ')[1]!) === did) this.gates.delete(key);
    this.settleNotifications();
    // Notifications to it or from it go.
    this.notifications = this.notifications.filter((n) => n.did !== did && n.author !== did);
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
    const gates = (collection: string) => of(collection).flatMap(([uri, r]) => {
      const postUri = `at://${r.did}/app.bsky.feed.post/${r.rkey}`;
      return r.record['post'] === postUri ? [{ uri, postUri }] : [];
    });
    // One row per subject: the smallest URI naming it; the rest are its duplicates.
    const duplicates: { uri: string; duplicateOf: string }[] = [];
    const holders = <T extends { uri: string }>(collection: string, rows: T[]): T[] => {
      const held = new Map<string, T>();
      const all = new Map<string, string>();
      for (const row of rows) {
        const r = this.records.get(row.uri)!;
        const key = subjectKey(r.did, collection, r.record!)!;
        all.set(row.uri, key);
        const h = held.get(key);
        if (h === undefined || row.uri < h.uri) held.set(key, row);
      }
      for (const [uri, key] of all) if (held.get(key)!.uri !== uri) duplicates.push({ uri, duplicateOf: held.get(key)!.uri });
      return [...held.values()];
    };
    const likes = holders('app.bsky.feed.like', refs('app.bsky.feed.like'));
    const reposts = holders('app.bsky.feed.repost', refs('app.bsky.feed.repost'));
    const follows = holders('app.bsky.graph.follow', dids('app.bsky.graph.follow'));
    const blocks = holders('app.bsky.graph.block', dids('app.bsky.graph.block'));
    type Embed = { kind: 'record'; postUri: string; target: string } | { kind: 'image'; postUri: string; position: string; imageCid: string; alt: string };
    const embeds = posts.flatMap((p): Embed[] => {
      const embed = p.r.record['embed'] as { $type?: string; record?: Ref; images?: { alt?: string; image?: { ref?: { $link?: string } } }[] } | undefined;
      if (embed?.$type === 'app.bsky.embed.record' && isRef(embed.record)) return [{ kind: 'record' as const, postUri: p.uri, target: embed.record.uri }];
      if (embed?.$type === 'app.bsky.embed.images') {
        return (embed.images ?? []).map((img, i) => ({ kind: 'image' as const, postUri: p.uri, position: String(i), imageCid: img.image?.ref?.$link ?? '', alt: img.alt ?? '' }));
      }
      return [];
    });
    const quotes = [...this.quoteRows].map(([uri, subject]) => ({ uri, subject }));

    const postAgg = new Map<string, { likeCount: number; replyCount: number; repostCount: number; quoteCount: number }>();
    const bump = (uri: string, k: 'likeCount' | 'replyCount' | 'repostCount' | 'quoteCount') => {
      if (deleted(uri.split('/')[2]!)) return;
      const row = postAgg.get(uri) ?? { likeCount: 0, replyCount: 0, repostCount: 0, quoteCount: 0 };
      row[k]++;
      postAgg.set(uri, row);
    };
    for (const l of likes) bump(l.subject, 'likeCount');
    for (const r of reposts) bump(r.subject, 'repostCount');
    for (const p of posts) if (p.replyParent !== null && !this.violatesThreadGate(p.uri)) bump(p.replyParent, 'replyCount');
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
      // `record` holds live records; a URI whose last op is a delete has its rev in record_tombstone.
      record: byKey([...this.records].filter(([, r]) => r.record !== null).map(([uri, r]) => ({ uri, cid: r.cid, did: r.did, json: r.json, rev: r.rev, indexedAt: r.time })), (r) => r.uri),
      record_tombstone: byKey([...this.records].filter(([, r]) => r.record === null).map(([uri, r]) => ({ uri, did: r.did, rev: r.rev, indexedAt: r.time })), (r) => r.uri),
      actor: byKey([...this.actors].map(([did, a]) => ({ did, handle: a.handle, upstreamStatus: a.upstreamStatus })), (r) => r.did),
      actor_sync: byKey([...this.sync].map(([did, s]) => ({ did, ...s })), (r) => r.did),
      post: byKey(posts.map((p) => ({
        uri: p.uri, creator: p.r.did, text: p.r.record['text'], replyParent: p.replyParent, replyRoot: p.replyRoot,
        // Both verdicts or neither, as the AppView writes them: either holding, the other is false.
        ...this.replyVerdicts(p.uri),
        violatesEmbeddingRules: this.violatesEmbeddingRules(p.uri) ? true : null,
        hasThreadGate: this.gateFlags.get(p.uri)?.thread ?? null,
        hasPostGate: this.gateFlags.get(p.uri)?.post ?? null,
      })), (r) => r.uri),
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
      actor_block: byKey(blocks, (r) => r.uri),
      profile: byKey(
        of('app.bsky.actor.profile').flatMap(([uri, r]) => (r.rkey === 'self' ? [{ uri, creator: r.did, displayName: (r.record['displayName'] as string | undefined) ?? null }] : [])),
        (r) => r.uri,
      ),
      list: byKey(of('app.bsky.graph.list').flatMap(([uri, r]) => (typeof r.record['name'] === 'string' && typeof r.record['purpose'] === 'string' ? [{ uri, creator: r.did, name: r.record['name'] }] : [])), (r) => r.uri),
      list_item: byKey(holders('app.bsky.graph.listitem', of('app.bsky.graph.listitem').flatMap(([uri, r]) => (isDid(r.record['subject']) && isAtUri(r.record['list']) && didOf(r.record['list']) === r.did
        ? [{ uri, creator: r.did, subjectDid: r.record['subject'], listUri: r.record['list'] }] : []))), (r) => r.uri),
      list_block: byKey(holders('app.bsky.graph.listblock', of('app.bsky.graph.listblock').flatMap(([uri, r]) => (isAtUri(r.record['subject']) ? [{ uri, subjectUri: r.record['subject'] }] : []))), (r) => r.uri),
      duplicate_record: byKey(duplicates, (r) => r.uri),
      feed_generator: byKey(of('app.bsky.feed.generator').flatMap(([uri, r]) => (isDid(r.record['did']) ? [{ uri, feedDid: r.record['did'] }] : [])), (r) => r.uri),
      starter_pack: byKey(of('app.bsky.graph.starterpack').flatMap(([uri, r]) => (typeof r.record['name'] === 'string' && isAtUri(r.record['list']) ? [{ uri, name: r.record['name'] }] : [])), (r) => r.uri),
      labeler: byKey(of('app.bsky.labeler.service').flatMap(([uri, r]) => (r.rkey === 'self' ? [{ uri }] : [])), (r) => r.uri),
      verification: byKey(of('app.bsky.graph.verification').flatMap(([uri, r]) => (isDid(r.record['subject']) && typeof r.record['handle'] === 'string' && typeof r.record['displayName'] === 'string'
        ? [{ uri, subject: r.record['subject'] }] : [])), (r) => r.uri),
      thread_gate: byKey(gates(THREADGATE), (r) => r.uri),
      post_gate: byKey(gates(POSTGATE), (r) => r.uri),
      notification: this.notifications.map((n) => JSON.stringify([n.did, n.recordUri, n.author, n.reason, n.reasonSubject])).sort(),
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
  record_tombstone: `select uri, did, rev, "indexedAt" from record_tombstone order by uri`,
  actor: `select did, handle, "upstreamStatus" from actor order by did`,
  actor_sync: `select did, "commitCid", "repoRev" from actor_sync order by did`,
  post: `select uri, creator, text, "replyParent", "replyRoot", "invalidReplyRoot", "violatesThreadGate", "violatesEmbeddingRules",
    "hasThreadGate", "hasPostGate" from post order by uri`,
  list: `select uri, creator, name from list order by uri`,
  list_item: `select uri, creator, "subjectDid", "listUri" from list_item order by uri`,
  list_block: `select uri, "subjectUri" from list_block order by uri`,
  feed_generator: `select uri, "feedDid" from feed_generator order by uri`,
  starter_pack: `select uri, name from starter_pack order by uri`,
  labeler: `select uri from labeler order by uri`,
  verification: `select uri, subject from verification order by uri`,
  thread_gate: `select uri, "postUri" from thread_gate order by uri`,
  post_gate: `select uri, "postUri" from post_gate order by uri`,
  notification: `select did, "recordUri", author, reason, "reasonSubject" from notification`,
  quote: `select uri, subject from quote order by uri`,
  post_embed_record: `select "postUri", "embedUri" from post_embed_record order by "postUri"`,
  post_embed_image: `select "postUri", position, "imageCid", alt from post_embed_image order by "postUri", position`,
  feed_item: `select uri, type, "postUri", "originatorDid" from feed_item order by uri`,
  like: `select uri, creator, subject from "like" order by uri`,
  repost: `select uri, creator, subject from repost order by uri`,
  follow: `select uri, creator, "subjectDid" from follow order by uri`,
  actor_block: `select uri, creator, "subjectDid" from actor_block order by uri`,
  duplicate_record: `select uri, "duplicateOf" from duplicate_record order by uri`,
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
