// Thread-gate and post-gate verdicts (issue 11): the post flags violatesThreadGate and violatesEmbeddingRules, with
// the AppView's rules and one difference of timing, for the order-independence the index promises.
//
// The AppView judges a reply (or quote) once, when it is indexed, against the gate indexed at that moment. Here a
// reply is judged against the gate that existed when it was CREATED: every version of a gate the index has seen is
// kept in gate_version (a delete is a version with no record, at the delete's time), and the gate in force at t is
// the version with the latest createdAt <= t. That is a function of the set of versions seen, so live order, backfill
// order, replays and batch boundaries all give the same flags; it is what the AppView ends with when records arrive
// in the order they were made (a reply before a gate stays allowed, a gate deleted later leaves earlier verdicts).
// A version added later (a gate indexed after its replies, by a backfill) re-judges the replies under it.
//
// The rules (the AppView's parseThreadGate / parsePostgate): the root's author may always reply; no gate, or a gate
// without `allow`, allows everyone; `allow: []` allows nobody; mention, follower, following and list rules allow
// who they name. A post gate with a disableRule forbids quotes by anyone but the quoted post's author.
// NOTE: follower, following and list rules read the follows and list items in the database when the reply is judged,
// as the AppView does; those can change later without re-judging.
import type { SqlExecutor } from '../ports.ts';
import { checkRows } from '../sql-rows.ts';
import { SkytideError } from '../errors.ts';
import type { AggregateDeltas } from './aggregates.ts';
import { normalizeTime } from './account-state.ts';
import { deleteNotifications, didOf, insertNotifications } from './notifications.ts';
import { notifyPosts } from './post-notifications.ts';
import { insertRows, type Row } from './rows.ts';
import { replyVerdicts } from './reply-verdicts.ts';
import { createdAt, obj, uriParts } from './plugins/fields.ts';
import type { CountedOp, JsonObject, JsonValue } from './plugins/types.ts';
import { POST_COLLECTION } from './plugins/post-collection.ts';
import { DELETED_SINCE_QUOTED } from './post-removals.ts';
import { forgetGatesUnder, noteGatesUnder, type JudgedUnder } from './reply-gates.ts';
import { gateNamesItsPost } from './refused-writes.ts';
import { membershipsAt, storedDuplicates, type MembershipHistory } from './memberships-at.ts';

export type GateKind = 'thread' | 'post';

type Version = {
  postUri: string;
  createdAt: string;
  cid: string;
  json: string | null;
  /** The rev of the commit that wrote it ('' before migration 0022). */
  rev: string;
};

const VERSION = { kind: 'text', postUri: 'text', createdAt: 'text', cid: 'text', json: 'text', rev: 'text' } as const;
const VERSION_ROW = { kind: 'string', postUri: 'string', createdAt: 'string', cid: 'string', json: 'string?', rev: 'string' } as const;
const THREADGATE = 'app.bsky.feed.threadgate';

/** The post a gate record belongs to: same repo, same rkey (the AppView rejects a gate whose `post` says otherwise). */
export function gatedPost(gateUri: string): string | undefined {
  const parts = uriParts(gateUri);
  return parts === undefined ? undefined : `at://${parts.did}/${POST_COLLECTION}/${parts.rkey}`;
}

/** Whether a gate record names its own post, as the AppView requires (refused-writes.ts). */
export function gateMatchesPost(gateUri: string, record: JsonObject): boolean {
  const parts = uriParts(gateUri);
  return parts !== undefined && gateNamesItsPost(parts.did, parts.rkey, record);
}

/** Writes every version these ops carry; returns the posts whose history changed. */
export async function writeGateVersions(tx: SqlExecutor, kind: GateKind, ops: readonly CountedOp[]): Promise<string[]> {
  const rows = ops.flatMap(({ uri, event }): Row[] => {
    const postUri = gatedPost(uri);
    if (postUri === undefined) return [];
    if (event.type !== 'delete' && gateMatchesPost(uri, event.record)) {
      return [{ kind, postUri, createdAt: createdAt(event.record['createdAt']), cid: event.cid, json: JSON.stringify(event.record), rev: event.rev }];
    }
    // A delete, or a version that is no gate for the AppView: no gate from this time on.
    const time = normalizeTime(event.time);
    return time === undefined ? [] : [{ kind, postUri, createdAt: time, cid: event.type === 'delete' ? '' : event.cid, json: null, rev: event.rev }];
  });
  // A version written again (the repo reverting a gate to an earlier record, which is the same CID; a backfill at the
  // repo's rev) keeps the latest rev it was written at: the repo's order decides which of two versions created at the
  // same time is in force, and the latest write is where the repo put it. The greatest rev whatever the arrival order,
  // one row per version in the statement (an upsert cannot touch a row twice), so batches and replays agree; a raised
  // rev changes the history like a new version.
  const latest = new Map<string, Row>();
  for (const row of rows) {
    const key = JSON.stringify([row['kind'], row['postUri'], row['createdAt'], row['cid']]);
    const seen = latest.get(key);
    if (seen === undefined || (seen['rev'] as string) < (row['rev'] as string)) latest.set(key, row);
  }
  const fresh = checkRows(await insertRows(tx, 'gate_version', VERSION, [...latest.values()], {
    orderBy: 'postUri', onConflict: '(kind, "postUri", "createdAt", cid) do update set rev = excluded.rev where gate_version.rev < excluded.rev',
    returning: ['postUri'],
  }), { postUri: 'string' });
  return [...new Set(fresh.map((r) => r.postUri))];
}

/** Gate versions per post, of both kinds: one read serves every verdict of a batch. */
export interface GateVersions {
  thread: Map<string, Version[]>;
  post: Map<string, Version[]>;
}

/**
 * Every gate version of the posts named ($1), both kinds. NOTE: `kind` is named although both are wanted: the primary
 * key (kind, "postUri", ...) is the only index, and a condition on "postUri" alone cannot probe it (Postgres before 18
 * has no skip scan), so the read was a scan of the whole table on every batch that wrote a post
 * (tests/integration/index/gate-plans.test.ts).
 */
export const GATE_VERSIONS_OF = `select kind, "postUri", "createdAt", cid, json, rev from gate_version
  where kind = any('{thread,post}'::text[]) and "postUri" = any($1::text[])`;

/** Every gate version of these posts, both kinds, in one query. */
export async function readGateVersions(tx: SqlExecutor, posts: readonly string[]): Promise<GateVersions> {
  const out: GateVersions = { thread: new Map(), post: new Map() };
  if (posts.length === 0) return out;
  const rows = checkRows(await tx.query(GATE_VERSIONS_OF, [[...new Set(posts)]]), VERSION_ROW);
  for (const { kind, ...v } of rows) {
    if (kind !== 'thread' && kind !== 'post') throw new SkytideError('handler_error', 'gate_version holds an unknown kind', { kind });
    const map = out[kind];
    const list = map.get(v.postUri);
    if (list === undefined) map.set(v.postUri, [v]);
    else list.push(v);
  }
  return out;
}

/**
 * The gate record in force at `time`, or undefined for none. Each version's record is parsed once per judgement
 * (`parsed`): a gate over a root with 50,000 replies is one record, not 50,000 parses.
 */
function inForce(versions: readonly Version[] | undefined, time: string, parsed: Map<Version, JsonObject | undefined>): JsonObject | undefined {
  return recordOf(versionInForce(versions, time), parsed);
}

/** A version's gate record, parsed once per judgement; undefined for none (a delete, a version that is no gate). */
function recordOf(best: Version | undefined, parsed: Map<Version, JsonObject | undefined>): JsonObject | undefined {
  if (best?.json == null) return undefined;
  if (!parsed.has(best)) parsed.set(best, obj(JSON.parse(best.json) as JsonValue));
  return parsed.get(best);
}

/** The repo's order: by rev ('' first: versions from before the rev was kept), then createdAt, then CID as before. */
function byRepoOrder(a: Version, b: Version): number {
  if (a.rev !== b.rev) return a.rev < b.rev ? -1 : 1;
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? -1 : 1;
  return a.cid < b.cid ? -1 : a.cid > b.cid ? 1 : 0;
}

/**
 * The version in force at `time` (a delete or a version that is no gate included), or undefined before any: the
 * latest created at or before it; of two created at the same time, the one the repo wrote last (an edit that kept its
 * createdAt replaces the version before it, whichever CID sorts first).
 */
function versionInForce(versions: readonly Version[] | undefined, time: string): Version | undefined {
  let best: Version | undefined;
  for (const v of versions ?? []) {
    if (v.createdAt > time) continue;
    if (best === undefined || v.createdAt > best.createdAt || (v.createdAt === best.createdAt && byRepoOrder(v, best) > 0)) best = v;
  }
  return best;
}

/** The place in the batch of the op that wrote each thread-gate version, by `post rev cid` (a delete's cid is ''). */
function gateOpPositions(ops: readonly CountedOp[] | undefined): Map<string, number> {
  const out = new Map<string, number>();
  for (const { uri, position, event } of ops ?? []) {
    const post = event.collection === THREADGATE ? gatedPost(uri) : undefined;
    if (post !== undefined) out.set(`${post} ${event.rev} ${event.type === 'delete' ? '' : event.cid}`, position);
  }
  return out;
}

/**
 * Where a reply's verdict is decided in its batch: at its own place (a stored reply's is -1, before the batch), or,
 * when the gate version in force for it was written later in the batch, at that op's place (one event at a time
 * judged it again there).
 */
function decidedAt(reply: ReplyToJudge, inForce: Version | undefined, writtenAt: ReadonlyMap<string, number>): number | undefined {
  if (reply.position === undefined || inForce === undefined) return reply.position;
  const at = writtenAt.get(`${inForce.postUri} ${inForce.rev} ${inForce.cid}`);
  return at === undefined ? reply.position : Math.max(reply.position, at);
}

/** Which gate a reply is judged under: the CID of the thread gate in force when it was created, '' for none. */
export function gateUnder(versions: GateVersions, reply: ReplyToJudge): string {
  const v = versionInForce(versions.thread.get(reply.replyRoot), reply.createdAt);
  return v?.json == null ? '' : v.cid;
}

/** Of these replies, those judged under a gate in force, each with its version (reply-gates.ts); none means no row. */
export function gatesUnder(replies: readonly ReplyToJudge[], versions: GateVersions): JudgedUnder[] {
  return replies.filter((r) => versions.thread.has(r.replyRoot)).map((r) => ({ uri: r.uri, cid: gateUnder(versions, r) })).filter((j) => j.cid !== '');
}

const typeOf = (v: JsonValue) => obj(v)?.['$type'];

export type ReplyToJudge = {
  uri: string;
  creator: string;
  createdAt: string;
  replyRoot: string;
  /** Its op's place in the batch, where the batch's own follows and list items are replayed to it (memberships-at.ts). */
  position?: number;
};

/**
 * The replies that violate the thread gate in force when they were created. `history`: the batch's follows and list
 * items, for rules judged at each reply's place in it; without it (a re-judgement after the batch), the tables' state.
 */
export async function judgeReplies(tx: SqlExecutor, replies: readonly ReplyToJudge[], known?: GateVersions, history?: MembershipHistory): Promise<Set<string>> {
  const violating = new Set<string>();
  if (replies.length === 0) return violating;
  const versions = (known ?? (await readGateVersions(tx, replies.map((r) => r.replyRoot)))).thread;
  if (versions.size === 0) return violating;
  // First the verdicts the gate alone decides; the rest need follows, list items or the root's mentions.
  const open: { reply: ReplyToJudge; owner: string; rules: JsonValue[]; position: number | undefined }[] = [];
  const parsed = new Map<Version, JsonObject | undefined>();
  const writtenAt = gateOpPositions(history?.gates);
  for (const reply of replies) {
    const owner = didOf(reply.replyRoot);
    if (reply.creator === owner) continue;
    const best = versionInForce(versions.get(reply.replyRoot), reply.createdAt);
    const allow = recordOf(best, parsed)?.['allow'];
    if (!Array.isArray(allow)) continue;
    if (allow.length === 0) violating.add(reply.uri);
    else open.push({ reply, owner, rules: allow, position: decidedAt(reply, best, writtenAt) });
  }
  if (open.length === 0) return violating;
  const roots = [...new Set(open.filter((o) => o.rules.some((r) => typeOf(r) === `${THREADGATE}#mentionRule`)).map((o) => o.reply.replyRoot))];
  const mentioned = new Map<string, Set<string>>();
  if (roots.length > 0) {
    const rows = checkRows(await tx.query(
      `select uri, json from record where uri = any($1::text[])`, [roots],
    ), { uri: 'string', json: 'string' });
    for (const row of rows) mentioned.set(row.uri, mentionsOf(JSON.parse(row.json) as JsonValue));
  }
  const pairs = open.flatMap(({ reply, owner }) => [{ a: reply.creator, b: owner }, { a: owner, b: reply.creator }]);
  const followRows = checkRows(await tx.query(
    `select f.uri, f.creator, f."subjectDid" from follow f join json_to_recordset($1::text::json) as x(a text, b text)
     on f.creator = x.a and f."subjectDid" = x.b`,
    [JSON.stringify(pairs)],
  ), { uri: 'string', creator: 'string', subjectDid: 'string' }).map((f) => ({ uri: f.uri, key: `${f.creator} ${f.subjectDid}` }));
  const lists = [...new Set(open.flatMap((o) => o.rules.filter((r) => typeOf(r) === `${THREADGATE}#listRule`).map((r) => String(obj(r)?.['list']))))];
  let itemRows: { uri: string; key: string }[] = [];
  if (lists.length > 0) {
    itemRows = checkRows(await tx.query(
      `select uri, "listUri", "subjectDid" from list_item where "listUri" = any($1::text[])
       and "subjectDid" = any($2::text[])`,
      [lists, [...new Set(open.map((o) => o.reply.creator))]],
    ), { uri: 'string', listUri: 'string', subjectDid: 'string' }).map((m) => ({ uri: m.uri, key: `${m.listUri} ${m.subjectDid}` }));
  }
  const atEnd = { follows: new Set(followRows.map((f) => f.key)), members: new Set(itemRows.map((m) => m.key)) };
  const replay = history === undefined || history.ops.length === 0 ? undefined : membershipsAt(history);
  // Untouched by the batch, so as they stand before it: a duplicate holds its pair from the moment its holder goes.
  const duplicates = replay === undefined ? undefined : await storedDuplicates(tx, history as MembershipHistory);
  const followsThen = duplicates === undefined ? followRows : [...followRows, ...duplicates.follows];
  const itemsThen = duplicates === undefined ? itemRows : [...itemRows, ...duplicates.items];
  for (const { reply, owner, rules, position } of open) {
    const follows = replay === undefined || position === undefined ? atEnd.follows : replay.follows(position, followsThen);
    const members = replay === undefined || position === undefined ? atEnd.members : replay.items(position, itemsThen);
    const allowed = rules.some((rule) => {
      switch (typeOf(rule)) {
        case `${THREADGATE}#mentionRule`: return mentioned.get(reply.replyRoot)?.has(reply.creator) === true;
        case `${THREADGATE}#followerRule`: return follows.has(`${reply.creator} ${owner}`);
        case `${THREADGATE}#followingRule`: return follows.has(`${owner} ${reply.creator}`);
        case `${THREADGATE}#listRule`: return members.has(`${String(obj(rule)?.['list'])} ${reply.creator}`);
        default: return false;
      }
    });
    if (!allowed) violating.add(reply.uri);
  }
  return violating;
}

/** The DIDs a post's facets mention. */
export function mentionsOf(record: JsonValue): Set<string> {
  const out = new Set<string>();
  const facets = obj(record)?.['facets'];
  if (!Array.isArray(facets)) return out;
  for (const facet of facets) {
    const features = obj(facet)?.['features'];
    if (!Array.isArray(features)) continue;
    for (const f of features) {
      const feature = obj(f);
      const d = feature?.['did'];
      if (feature?.['$type'] === 'app.bsky.richtext.facet#mention' && typeof d === 'string') out.add(d);
    }
  }
  return out;
}

export type QuoteToJudge = {
  uri: string;
  creator: string;
  createdAt: string;
  subject: string;
};

/** The quotes that break the embedding rules of the post gate in force when they were created. */
export async function judgeQuotes(tx: SqlExecutor, quotes: readonly QuoteToJudge[], known?: GateVersions): Promise<Set<string>> {
  const violating = new Set<string>();
  if (quotes.length === 0) return violating;
  const versions = (known ?? (await readGateVersions(tx, quotes.map((q) => q.subject)))).post;
  if (versions.size === 0) return violating;
  const parsed = new Map<Version, JsonObject | undefined>();
  for (const q of quotes) {
    if (q.creator === didOf(q.subject)) continue;
    const rules = inForce(versions.get(q.subject), q.createdAt, parsed)?.['embeddingRules'];
    if (Array.isArray(rules) && rules.some((r) => typeOf(r) === 'app.bsky.feed.postgate#disableRule')) violating.add(q.uri);
  }
  return violating;
}

/**
 * Re-judges the replies under these roots after their gate history changed; counts and notifications follow.
 * `history`, from a gate's versions in a batch: the batch's follows, list items and gate ops, so that each reply is
 * judged by the follows and list items as they stood at the op that wrote its gate in force (decidedAt); without it,
 * by the tables as they are.
 */
export async function rejudgeThreads(tx: SqlExecutor, roots: readonly string[], deltas: AggregateDeltas, history?: MembershipHistory): Promise<void> {
  await rejudgeReplies(tx, 'roots', roots, deltas, history);
}

/** Re-judges these replies (posts that are not replies are passed over); counts and notifications follow. */
export async function rejudgeRepliesByUri(tx: SqlExecutor, uris: readonly string[], deltas: AggregateDeltas): Promise<void> {
  await rejudgeReplies(tx, 'uris', uris, deltas);
}

async function rejudgeReplies(tx: SqlExecutor, by: 'roots' | 'uris', keys: readonly string[], deltas: AggregateDeltas, history?: MembershipHistory): Promise<void> {
  if (keys.length === 0) return;
  const rows = checkRows(await tx.query(
    `select p.uri, p.creator, p."createdAt", p."replyRoot", p."replyParent", p."violatesThreadGate", coalesce(g."gateCid", '') as "judgedUnder"
     from post p left join reply_gate g on g.uri = p.uri
     where ${by === 'roots' ? 'p."replyRoot" = any($1::text[])' : 'p.uri = any($1::text[]) and p."replyRoot" is not null'} order by p.uri`,
    [keys],
  ), { uri: 'string', creator: 'string', createdAt: 'string', replyRoot: 'string', replyParent: 'string', violatesThreadGate: 'boolean?', judgedUnder: 'string' });
  if (rows.length === 0) return;
  const versions = await readGateVersions(tx, rows.map((r) => r.replyRoot));
  // Only a reply whose gate in force is not the one it was judged under is judged again: the same gate judged again
  // would read today's follows and list items, where the AppView judged once, as the reply was indexed.
  const under = new Map(rows.map((r) => [r.uri, gateUnder(versions, r)]));
  const replies = rows.filter((r) => under.get(r.uri) !== r.judgedUnder);
  if (replies.length === 0) return;
  await noteGatesUnder(tx, replies.filter((r) => under.get(r.uri) !== '').map((r) => ({ uri: r.uri, cid: under.get(r.uri)! })));
  // Those now under no gate in force (one deleted, or a root without a gate history: its account purged) forget the
  // gate they were judged under: no row says none, however the batches fell (a row of '' was written only when the
  // reply's batch also wrote its root's first gate). Were that gate written again (a restore), the same CID would
  // otherwise look unchanged.
  await forgetGatesUnder(tx, replies.filter((r) => under.get(r.uri) === '').map((r) => r.uri));
  // Stored, so placed before the batch: decidedAt moves each to the op that wrote its gate in force.
  const placed = history === undefined ? replies : replies.map((r) => ({ ...r, position: -1 }));
  const violating = await judgeReplies(tx, placed, versions, history);
  const flips = replies.filter((r) => violating.has(r.uri) !== (r.violatesThreadGate === true));
  if (flips.length === 0) return;
  // Counted from the rows the update changed, not from the read: another lane may have deleted a reply (or judged it)
  // since, and its delete took its count already; counted from the read, it went to -1.
  const flipped = await setFlag(tx, 'violatesThreadGate', flips.map((r) => ({ uri: r.uri, value: violating.has(r.uri) })));
  const changed = flips.filter((r) => flipped.has(r.uri));
  for (const r of changed) deltas.post(r.replyParent, 'replyCount', violating.has(r.uri) ? -1 : 1);
  // A reply that violates the gate notifies nobody of a reply (mentions and quotes stand); one that keeps it after all
  // notifies as any reply.
  await deleteNotifications(tx, changed.filter((r) => violating.has(r.uri)).map((r) => r.uri), ['reply']);
  await notifyPosts(tx, undefined, [], changed.filter((r) => !violating.has(r.uri)).map((r) => r.uri));
}

/** Re-judges the quotes of these posts after their post-gate history changed. */
export async function rejudgeQuotes(tx: SqlExecutor, posts: readonly string[]): Promise<void> {
  await rejudgeQuoting(tx, 'subjects', posts);
}

/**
 * Re-judges these posts' quotes (posts that quote nothing are passed over), after their batch committed. With
 * `deltas`, first deletes the quote rows whose quoted post a delete or an edit later in time removed, counting them: a
 * delete or edit in a transaction in flight beside the quote's missed its row (cross-repo.ts). A delete leaves its
 * tombstone newer than the quote; an edit, a post row of another CID than the quote names, newer than it, written by a
 * transaction the quote's batch did not see committed as it began (`snapshot`), nor the batch's own (`xid`: whose posts it
 * replayed in stream order itself): an edit committed before it is one the quote came after, which keeps its row
 * whatever its event time, as in the AppView.
 */
export async function rejudgeQuotesByUri(tx: SqlExecutor, uris: readonly string[], deltas?: AggregateDeltas, snapshot?: string, xid?: string): Promise<void> {
  await rejudgeQuoting(tx, 'uris', uris, deltas, snapshot, xid);
}

/**
 * A row's xmin as an xid8 (`pg_visible_in_snapshot` takes no xid): the epoch of the current transaction ID, one less
 * for an xmin above its low 32 bits (written before the counter wrapped).
 */
const XMIN8 = `((((pg_current_xact_id()::text::bigint >> 32) - (case when s.xmin::text::bigint > (pg_current_xact_id()::text::bigint & 4294967295) then 1 else 0 end)) << 32) | s.xmin::text::bigint)::text::xid8`;

/**
 * The quotes to judge, read from what each quoting post embeds (`post_embed_record`), not from its `quote` row: an edit
 * or delete of the quoted post removes that row, and the verdict is still the gate's in force at the quote's
 * createdAt, so it must not hang on whether the row went before or after a backdated gate arrived (one event at a
 * time it went first and was never judged; in a batch it was judged).
 */
const QUOTE_COLUMNS = `e."postUri" as uri, p.cid, p.creator, p."createdAt", p."sortAt", e."embedUri" as subject, p."violatesEmbeddingRules"`;
const QUOTES_FROM = `post_embed_record e join post p on p.uri = e."postUri"`;
/** Quotes of posts only: a feed generator, a list or a starter pack embedded has no post gate. */
const OF_POSTS = `split_part(e."embedUri", '/', 4) = '${POST_COLLECTION}'`;

async function rejudgeQuoting(tx: SqlExecutor, by: 'subjects' | 'uris', keys: readonly string[], deltas?: AggregateDeltas, snapshot?: string, xid?: string): Promise<void> {
  if (keys.length === 0) return;
  const key = by === 'subjects' ? 'q.subject' : 'q.uri';
  const embedKey = by === 'subjects' ? 'e."embedUri"' : 'e."postUri"';
  // The purge rides on the statement that reads the quotes (no statement of its own): its rows come back marked.
  const rows = checkRows(await tx.query(
    deltas === undefined
      ? `select ${QUOTE_COLUMNS}, false as purged from ${QUOTES_FROM} where ${embedKey} = any($1::text[]) and ${OF_POSTS} order by 1`
      : `with purged as (delete from quote q where ${key} = any($1::text[])
           and (exists (select 1 from record_tombstone t where t.uri = q.subject and t."indexedAt" > q."indexedAt")
             or ${DELETED_SINCE_QUOTED}
             or exists (select 1 from post s where s.uri = q.subject and s.cid <> q."subjectCid" and s."indexedAt" > q."indexedAt"
               and $2::text <> '' and s.xmin <> q.xmin and ${XMIN8}::text <> $3::text and not pg_visible_in_snapshot(${XMIN8}, $2::text::pg_snapshot)))
           returning q.uri, q.subject)
         select ${QUOTE_COLUMNS}, false as purged from ${QUOTES_FROM} where ${embedKey} = any($1::text[]) and ${OF_POSTS}
         union all select uri, '', '', '', '', subject, null::boolean, true from purged order by 1`,
    deltas === undefined ? [keys] : [keys, snapshot ?? '', xid ?? ''],
  ), { uri: 'string', cid: 'string', creator: 'string', createdAt: 'string', sortAt: 'string', subject: 'string', violatesEmbeddingRules: 'boolean?', purged: 'boolean' });
  for (const r of rows) if (r.purged) deltas?.post(r.subject, 'quoteCount', -1);
  const quotes = rows.filter((r) => !r.purged);
  const violating = await judgeQuotes(tx, quotes);
  const flips = quotes.filter((q) => violating.has(q.uri) !== (q.violatesEmbeddingRules === true));
  if (flips.length === 0) return;
  const flipped = await setFlag(tx, 'violatesEmbeddingRules', flips.map((q) => ({ uri: q.uri, value: violating.has(q.uri) })));
  const changed = flips.filter((q) => flipped.has(q.uri));
  const lost = changed.filter((q) => violating.has(q.uri)).map((q) => q.uri);
  await deleteNotifications(tx, lost, ['quote']);
  // One notification per recipient (a mention, else a quote, else a reply): the quoted post's author, when the quote
  // also replies under one of their posts, gets the reply's in place of the quote's taken away.
  await notifyPosts(tx, undefined, [], lost);
  const allowed = changed.filter((q) => !violating.has(q.uri));
  if (allowed.length === 0) return;
  // A quote judged violating notified the quoted post's author of the reply it also is, if any: the quote's comes first
  // (a mention, else a quote, else a reply), so it takes that one's place.
  await tx.query(
    `delete from notification n using unnest($1::text[], $2::text[]) as q(uri, did)
     where n."recordUri" = q.uri and n.did = q.did and n.reason = 'reply'`,
    [allowed.map((q) => q.uri), allowed.map((q) => didOf(q.subject))],
  );
  const present = checkRows(await tx.query(
    `select "recordUri", did from notification where "recordUri" = any($1::text[])`,
    [allowed.map((q) => q.uri)],
  ), { recordUri: 'string', did: 'string' });
  const has = new Set(present.map((n) => `${n.recordUri} ${n.did}`));
  await insertNotifications(tx, allowed.filter((q) => q.creator !== didOf(q.subject) && !has.has(`${q.uri} ${didOf(q.subject)}`)).map((q) => ({
    did: didOf(q.subject), recordUri: q.uri, recordCid: q.cid, author: q.creator, reason: 'quote', reasonSubject: q.subject, sortAt: q.sortAt,
  })));
}

/**
 * Sets a verdict flag: true, or null (the AppView leaves an allowed post's flag unset), save that violatesThreadGate
 * goes with invalidReplyRoot (reply-verdicts.ts: either holding, the other is false). Only where the flag still holds
 * the other verdict (rechecked on the row as it is when locked): returns the posts it changed, so what follows from
 * a flip (a count, a notification) follows only from a flip that happened, never from one another lane's delete or
 * judgement made moot since the rows were read.
 */
async function setFlag(tx: SqlExecutor, flag: 'violatesThreadGate' | 'violatesEmbeddingRules', values: readonly { uri: string; value: boolean }[]): Promise<Set<string>> {
  const set = flag === 'violatesThreadGate' ? replyVerdicts('post."invalidReplyRoot"', 'x.value') : `"${flag}" = case when x.value then true else null end`;
  const rows = checkRows(await tx.query(
    `update post set ${set}
     from (select * from json_to_recordset($1::text::json) as x(uri text, value boolean) order by uri) as x
     where post.uri = x.uri and (post."${flag}" is true) is distinct from x.value
     returning post.uri`,
    [JSON.stringify(values)],
  ), { uri: 'string' });
  return new Set(rows.map((r) => r.uri));
}
