// app.bsky.feed.post -> post, its feed_item, embed rows (images, external, record, video; recordWithMedia is a record
// plus media) and a quote row when it embeds another post. Aggregates: postsCount of the author, replyCount of the
// parent, quoteCount of the quoted post. Removal deletes every one of those rows and reverses exactly what it removes;
// a removal in the stream (a delete, or an update to another CID) also deletes the quote rows naming the post, as the
// AppView's deleteFn does, but not those of quotes later in the stream committed first (types.ts, `Removal`), and a
// write of the CID already held is no removal (post-fates.ts). quoteCount counts the
// quote rows that remain (the AppView leaves it stale until its next recount: README, Index).
import { deleteFromTables, deleteRows, insertRows, insertTables, type Row } from '../rows.ts';
import { blobCid, collectionOf, createdAt, earliest, obj, str, stringArray, strongRef } from './fields.ts';
import type { IndexedRecord, JsonObject, Plugin, Removal } from './types.ts';
import type { SqlExecutor } from '../../ports.ts';
import { FEED_ITEM_COLUMNS, rowsOf } from './shapes.ts';
import { gatesUnder, judgeQuotes, judgeReplies, readGateVersions } from '../gates.ts';
import { judgeReplyRoots } from '../reply-roots.ts';
import { hiddenAt, notifyBelowRemoved, notifyPosts } from '../post-notifications.ts';
import { checkRows } from '../../sql-rows.ts';
import { rememberRemovals } from '../post-removals.ts';
import { noteGatesUnder } from '../reply-gates.ts';
import { POST_COLLECTION } from './post-collection.ts';

const POST = {
  uri: 'text', cid: 'text', creator: 'text', text: 'text', replyRoot: 'text', replyRootCid: 'text', replyParent: 'text',
  replyParentCid: 'text', langs: 'jsonb', tags: 'jsonb', violatesThreadGate: 'boolean', invalidReplyRoot: 'boolean', violatesEmbeddingRules: 'boolean',
  createdAt: 'text', indexedAt: 'text',
} as const;
const IMAGE = { postUri: 'text', position: 'text', imageCid: 'text', alt: 'text' } as const;
const EXTERNAL = { postUri: 'text', uri: 'text', title: 'text', description: 'text', thumbCid: 'text' } as const;
const RECORD = { postUri: 'text', embedUri: 'text', embedCid: 'text' } as const;
const VIDEO = { postUri: 'text', videoCid: 'text', alt: 'text' } as const;
const OP_REPLY = { rootUri: 'text', parentUri: 'text', uri: 'text' } as const;
const QUOTE = { uri: 'text', cid: 'text', subject: 'text', subjectCid: 'text', createdAt: 'text', indexedAt: 'text' } as const;

export { POST_COLLECTION };

interface PostRows {
  post: Row;
  feedItem: Row;
  images: Row[];
  gallery: Row[];
  external: Row[];
  records: Row[];
  videos: Row[];
  quote: Row[];
}

function media(uri: string, embed: JsonObject | undefined, out: PostRows): void {
  switch (embed?.['$type']) {
    case 'app.bsky.embed.images': {
      const images = Array.isArray(embed['images']) ? embed['images'] : [];
      images.forEach((item, position) => {
        const image = obj(item);
        const cid = blobCid(image?.['image']);
        if (cid !== undefined) out.images.push({ postUri: uri, position: String(position), imageCid: cid, alt: str(image?.['alt']) ?? '' });
      });
      break;
    }
    case 'app.bsky.embed.gallery': {
      const items = Array.isArray(embed['items']) ? embed['items'] : [];
      items.forEach((item, position) => {
        const image = obj(item);
        if (image?.['$type'] !== 'app.bsky.embed.gallery#image') return;
        const cid = blobCid(image['image']);
        if (cid !== undefined) out.gallery.push({ postUri: uri, position: String(position), imageCid: cid, alt: str(image['alt']) ?? '' });
      });
      break;
    }
    case 'app.bsky.embed.external': {
      const ext = obj(embed['external']);
      const link = str(ext?.['uri']);
      if (link !== undefined) {
        out.external.push({
          postUri: uri, uri: link, title: str(ext?.['title']) ?? '', description: str(ext?.['description']) ?? '',
          thumbCid: blobCid(ext?.['thumb']) ?? null,
        });
      }
      break;
    }
    case 'app.bsky.embed.video': {
      const cid = blobCid(embed['video']);
      if (cid !== undefined) out.videos.push({ postUri: uri, videoCid: cid, alt: str(embed['alt']) ?? null });
      break;
    }
  }
}

/** The record a post embeds (an `embed.record`, or the record of an `embed.recordWithMedia`), if any. */
export function embeddedRecord(embed: JsonObject | undefined): { uri: string; cid: string } | undefined {
  switch (embed?.['$type']) {
    case 'app.bsky.embed.record':
      return strongRef(embed['record']);
    case 'app.bsky.embed.recordWithMedia':
      return strongRef(obj(embed['record'])?.['record']);
    default:
      return undefined;
  }
}

function embedded(r: IndexedRecord, ref: { uri: string; cid: string } | undefined, created: string, out: PostRows): void {
  if (ref === undefined) return;
  out.records.push({ postUri: r.uri, embedUri: ref.uri, embedCid: ref.cid });
  if (collectionOf(ref.uri) === POST_COLLECTION) {
    // Dated by when it was made where a backfill knows it: the quote's removal by its subject's delete goes by it.
    out.quote.push({ uri: r.uri, cid: r.cid, subject: ref.uri, subjectCid: ref.cid, createdAt: created, indexedAt: r.madeAt ?? r.indexedAt });
  }
}

/** The rows of one post, or undefined when it lacks a post's shape (no text, or a malformed reply). */
export function postRows(r: IndexedRecord): PostRows | undefined {
  const text = str(r.record['text']);
  if (text === undefined) return undefined;
  const replyObj = obj(r.record['reply']);
  const root = strongRef(replyObj?.['root']);
  const parent = strongRef(replyObj?.['parent']);
  if (r.record['reply'] !== undefined && (root === undefined || parent === undefined)) return undefined;
  const created = createdAt(r.record['createdAt']);
  const out: PostRows = {
    post: {
      uri: r.uri, cid: r.cid, creator: r.did, text,
      replyRoot: root?.uri ?? null, replyRootCid: root?.cid ?? null,
      replyParent: parent?.uri ?? null, replyParentCid: parent?.cid ?? null,
      langs: stringArray(r.record['langs']) ?? null, tags: stringArray(r.record['tags']) ?? null,
      violatesThreadGate: null, invalidReplyRoot: null, violatesEmbeddingRules: null, createdAt: created, indexedAt: r.indexedAt,
    },
    feedItem: { uri: r.uri, cid: r.cid, type: 'post', postUri: r.uri, originatorDid: r.did, sortAt: earliest(created, r.indexedAt) },
    images: [], gallery: [], external: [], records: [], videos: [], quote: [],
  };
  const embed = obj(r.record['embed']);
  embedded(r, embeddedRecord(embed), created, out);
  media(r.uri, embed?.['$type'] === 'app.bsky.embed.recordWithMedia' ? obj(embed['media']) : embed, out);
  return out;
}

export const postPlugin: Plugin = {
  collection: POST_COLLECTION,
  family: 'post',
  async insert(tx, records, deltas, batch) {
    const { rows: all, invalid } = rowsOf(records, postRows);
    if (all.length === 0) {
      await notifyBelowRemoved(tx, batch?.gonePosts);
      return invalid;
    }
    // The gates' verdicts, decided before the rows are written so that the counts leave violating replies out.
    const positions = new Map(records.map((r) => [r.uri, r.position]));
    const replies = all.flatMap(({ post: p }) => {
      if (p['replyRoot'] === null) return [];
      const position = positions.get(p['uri'] as string);
      return [{
        uri: p['uri'] as string, creator: p['creator'] as string, createdAt: p['createdAt'] as string, replyRoot: p['replyRoot'] as string,
        ...(position === undefined ? {} : { position }),
      }];
    });
    // One read of the gate history of every root, quoted post and new post in the batch (usually none at all).
    const gates = await readGateVersions(tx, [
      ...replies.map((r) => r.replyRoot), ...all.flatMap((p) => p.quote.map((q) => q['subject'] as string)), ...all.map((p) => p.post['uri'] as string),
    ]);
    const violating = await judgeReplies(tx, replies, gates, batch?.memberships === undefined ? undefined : { ops: batch.memberships, before: batch.before, gates: batch.versioned });
    const quoting = all.flatMap(({ post: p, quote }) => quote.map((q) => ({
      uri: p['uri'] as string, creator: p['creator'] as string, createdAt: p['createdAt'] as string, subject: q['subject'] as string,
    })));
    const detached = await judgeQuotes(tx, quoting, gates);
    for (const { post: p } of all) {
      // Its root judged next (judgeReplyRoots); until then valid, which the AppView writes beside a violation.
      if (violating.has(p['uri'] as string)) Object.assign(p, { violatesThreadGate: true, invalidReplyRoot: false });
      if (detached.has(p['uri'] as string)) p['violatesEmbeddingRules'] = true;
    }
    const inserted = checkRows(await insertRows(
      tx, 'post', POST, all.map((p) => p.post),
      { orderBy: 'uri', onConflict: '(uri) do nothing', returning: ['uri', 'creator', 'replyParent', 'violatesThreadGate'] },
    ), { uri: 'string', creator: 'string', replyParent: 'string?', violatesThreadGate: 'boolean?' });
    // Only posts this batch really inserted get their dependent rows and counts: a row already there was counted.
    const fresh = new Set(inserted.map((row) => row.uri));
    for (const row of inserted) {
      deltas.profile(row.creator, 'postsCount', 1);
      // Like the AppView's recount, a reply that breaks the thread gate is not counted.
      if (row.replyParent !== null && row.violatesThreadGate !== true) deltas.post(row.replyParent, 'replyCount', 1);
    }
    const mine = all.filter((p) => fresh.has(p.post['uri'] as string));
    // The gate each new reply was judged under: judged again only when that changes (reply-gates.ts).
    await noteGatesUnder(tx, gatesUnder(replies.filter((r) => fresh.has(r.uri)), gates));
    // The dependent rows of the posts inserted here, every table in one statement (same table order as before).
    const quotes = checkRows(await insertTables(tx, [
      { table: 'feed_item', columns: FEED_ITEM_COLUMNS, rows: mine.map((p) => p.feedItem), orderBy: 'uri', onConflict: '(uri) do nothing' },
      { table: 'post_embed_image', columns: IMAGE, rows: mine.flatMap((p) => p.images), orderBy: 'postUri', onConflict: 'do nothing' },
      { table: 'post_embed_gallery_image', columns: IMAGE, rows: mine.flatMap((p) => p.gallery), orderBy: 'postUri', onConflict: 'do nothing' },
      // Replies by the thread's author, as the AppView keeps them for its OP thread view (a row soft-deleted by an
      // earlier removal stays so, as there).
      { table: 'op_thread_reply', columns: OP_REPLY, rows: mine.flatMap((p) => {
        const root = p.post['replyRoot'];
        return typeof root === 'string' && root.split('/')[2] === p.post['creator'] ? [{ rootUri: root, parentUri: p.post['replyParent'] as string, uri: p.post['uri'] as string }] : [];
      }), orderBy: 'uri', onConflict: 'do nothing' },
      { table: 'post_embed_external', columns: EXTERNAL, rows: mine.flatMap((p) => p.external), orderBy: 'postUri', onConflict: 'do nothing' },
      { table: 'post_embed_record', columns: RECORD, rows: mine.flatMap((p) => p.records), orderBy: 'postUri', onConflict: 'do nothing' },
      { table: 'post_embed_video', columns: VIDEO, rows: mine.flatMap((p) => p.videos), orderBy: 'postUri', onConflict: 'do nothing' },
      // A quote whose quoted post a later op of the batch removed has no row (its notification stands, as there).
      { table: 'quote', columns: QUOTE, rows: mine.flatMap((p) => p.quote).filter((q) => batch?.cutQuotes?.has(q['uri'] as string) !== true), orderBy: 'uri', onConflict: '(uri) do nothing', returning: ['subject'] },
    ]), { subject: 'string' });
    for (const q of quotes) deltas.post(q.subject, 'quoteCount', 1);
    if (mine.length > 0) {
      const uris = mine.map((p) => p.post['uri'] as string);
      // Only a post with a gate history can have a gate row (gates write their history first).
      await markGated(tx, uris.filter((u) => gates.thread.has(u) || gates.post.has(u)));
      // Only a reply can close a cycle of replies: those are checked for one (reply-roots.ts).
      const replyUris = uris.filter((_, i) => mine[i]!.post['replyParent'] !== null);
      await judgeReplyRoots(tx, replyUris, uris, replyUris);
      const byUri = new Map(records.map((r) => [r.uri, r]));
      // The root's thread gate as it stood at each reply's place in the batch, where the batch changed it.
      const gateAt = batch === undefined ? undefined : hiddenAt(batch);
      await notifyPosts(tx, gates.thread, mine.map((p) => {
        const uri = p.post['uri'] as string;
        const quoted = p.quote[0]?.['subject'];
        const r = byUri.get(uri);
        const root = p.post['replyRoot'];
        const hidden = typeof root === 'string' && r?.position !== undefined ? gateAt?.(root, r.position) : undefined;
        return {
          uri, record: r?.record ?? {}, quoted: typeof quoted === 'string' && !detached.has(uri) ? quoted : null,
          ...(hidden === undefined ? {} : { hidden }), ...(r?.position === undefined ? {} : { position: r.position }),
        };
      }), [], batch?.gonePosts);
    } else {
      await notifyBelowRemoved(tx, batch?.gonePosts);
    }
    return invalid;
  },
  // Ops older than the repo's snapshot (a backfill's CAR, then the stream catching up) write no row, but each delete
  // or edit still takes the quotes it took one event at a time (made since by other repos), and a delete's time is
  // kept for a quote older than it that a lagging lane indexes later (post_removal).
  async pastVersions(tx, ops, deltas) {
    const taken = ops.flatMap(({ uri, event }): { uri: string; time: string; cid?: string }[] => event.type === 'delete'
      ? [{ uri, time: event.time }] : event.type === 'update' ? [{ uri, time: event.time, cid: event.cid }] : []);
    await rememberRemovals(tx, taken.filter((t) => t.cid === undefined));
    for (const q of await cutQuotes(tx, taken)) deltas.post(q.subject, 'quoteCount', -1);
  },
  async remove(tx, all, deltas, options) {
    const { posts, kept } = await removePosts(tx, all, options?.sameCid);
    for (const uri of kept) options?.keptWhole?.add(uri);
    for (const row of posts) options?.gone?.set(row.uri, row.replyParent);
    // A post written again at the CID it has (a backfill, a replay) is no removal: it keeps every row.
    const uris = kept.size === 0 ? all : all.filter((uri) => !kept.has(uri));
    if (uris.length === 0) return;
    for (const row of posts) {
      deltas.profile(row.creator, 'postsCount', -1);
      if (row.replyParent !== null && row.violatesThreadGate !== true) deltas.post(row.replyParent, 'replyCount', -1);
    }
    // Replies to a post that is gone have no parent to be valid against.
    await judgeReplyRoots(tx, [], posts.map((p) => p.uri), []);
    // The dependent rows and the notifications the posts made (a uri without a post row made none), every table in
    // one statement; op_thread_reply rows are only marked deleted (below).
    const own = checkRows(await deleteFromTables(tx, [
      { table: 'notification', column: 'recordUri' },
      { table: 'quote', column: 'uri', returning: ['subject'] },
      { table: 'feed_item', column: 'uri' },
      { table: 'post_embed_image', column: 'postUri' },
      { table: 'post_embed_gallery_image', column: 'postUri' },
      { table: 'post_embed_external', column: 'postUri' },
      { table: 'post_embed_record', column: 'postUri' },
      { table: 'post_embed_video', column: 'postUri' },
      { table: 'reply_gate', column: 'uri' },
    ], uris), { subject: 'string' });
    // In the stream, the quote rows naming the posts go too (an account's purge leaves them, as the AppView's does).
    const naming = options?.cascade === undefined ? [] : await cascadeToQuotes(tx, uris, options.cascade);
    for (const q of [...own, ...naming]) deltas.post(q.subject, 'quoteCount', -1);
    await softDeleteOpReplies(tx, posts.map((p) => p.uri));
  },
};

/** Deletes the quote rows naming these removed posts that each removal takes (`Removal`), returning their subjects. */
async function cascadeToQuotes(tx: SqlExecutor, uris: readonly string[], removals: ReadonlyMap<string, Removal>): Promise<{ subject: string }[]> {
  const taken = uris.flatMap((uri) => {
    const removal = removals.get(uri);
    return removal === undefined ? [] : [{ uri, ...removal }];
  });
  if (taken.length === 0) return [];
  await rememberRemovals(tx, taken.flatMap((r) => (r.deletedAt === undefined ? [] : [{ uri: r.uri, time: r.deletedAt }])));
  await writeRemovedOpReplies(tx, taken.flatMap((r) => (r.opReplies ?? []).map((o) => ({ uri: r.uri, ...o }))));
  return cutQuotes(tx, taken);
}

/**
 * Deletes the quote rows each removal takes: those naming its post that are no later than it, and, for an edit (a
 * removal with the new version's CID), quote another CID. Returns their subjects.
 */
async function cutQuotes(tx: SqlExecutor, taken: readonly { uri: string; time: string; cid?: string }[]): Promise<{ subject: string }[]> {
  if (taken.length === 0) return [];
  return checkRows(await tx.query(
    `delete from quote q using unnest($1::text[], $2::text[], $3::text[]) as r(uri, time, cid)
     where q.subject = r.uri and q."indexedAt" <= r.time and q."subjectCid" is distinct from r.cid returning q.subject`,
    [taken.map((r) => r.uri), taken.map((r) => r.time), taken.map((r) => r.cid ?? null)],
  ), { subject: 'string' });
}

const REMOVED = { uri: 'string', creator: 'string', replyParent: 'string?', violatesThreadGate: 'boolean?' } as const;

/**
 * Deletes the post rows of these uris, but not those held at the CID `sameCid` names for them (kept, every row with
 * them): one statement either way.
 */
async function removePosts(
  tx: SqlExecutor, uris: readonly string[], sameCid: ReadonlyMap<string, string> | undefined,
): Promise<{ posts: { uri: string; creator: string; replyParent: string | null; violatesThreadGate: boolean | null }[]; kept: Set<string> }> {
  const returning = ['uri', 'creator', 'replyParent', 'violatesThreadGate'];
  if (sameCid === undefined || sameCid.size === 0) return { posts: checkRows(await deleteRows(tx, 'post', 'uri', uris, returning), REMOVED), kept: new Set() };
  const rows = checkRows(await tx.query(
    `with kept as (select p.uri from post p join unnest($2::text[], $3::text[]) as w(uri, cid) on p.uri = w.uri and p.cid = w.cid),
     gone as (delete from post where uri = any($1::text[]) and not exists (select 1 from kept where kept.uri = post.uri)
       returning uri, creator, "replyParent", "violatesThreadGate")
     select uri, creator, "replyParent", "violatesThreadGate", false as kept from gone
     union all select uri, '' as creator, null as "replyParent", null as "violatesThreadGate", true as kept from kept`,
    [uris, [...sameCid.keys()], [...sameCid.values()]],
  ), { ...REMOVED, kept: 'boolean' });
  return {
    posts: rows.filter((r) => !r.kept).map(({ uri, creator, replyParent, violatesThreadGate }) => ({ uri, creator, replyParent, violatesThreadGate })),
    kept: new Set(rows.filter((r) => r.kept).map((r) => r.uri)),
  };
}

/** A post indexed after its gate still shows it (the AppView sets the flag only when the gate is indexed). */
async function markGated(tx: SqlExecutor, uris: readonly string[]): Promise<void> {
  if (uris.length === 0) return;
  await tx.query(
    `update post set "hasThreadGate" = case when exists (select 1 from thread_gate g where g."postUri" = post.uri) then true else "hasThreadGate" end,
       "hasPostGate" = case when exists (select 1 from post_gate g where g."postUri" = post.uri) then true else "hasPostGate" end
     where uri = any($1::text[])
       and (exists (select 1 from thread_gate g where g."postUri" = post.uri) or exists (select 1 from post_gate g where g."postUri" = post.uri))`,
    [[...uris].sort()],
  );
}

/**
 * The author's own replies the batch wrote and removed (post-fates.ts, `opReplies`): their rows as one event at a time
 * leaves them, written and marked deleted (a row held already is only marked, as softDeleteOpReplies does).
 */
async function writeRemovedOpReplies(tx: SqlExecutor, replies: readonly { uri: string; rootUri: string; parentUri: string }[]): Promise<void> {
  if (replies.length === 0) return;
  const key = (r: { uri: string; rootUri: string }) => `${r.rootUri} ${r.uri}`;
  const sorted = [...replies].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  await tx.query(
    `insert into op_thread_reply ("rootUri", "parentUri", uri, "deletedAt")
     select root, parent, uri, ${NOW} from unnest($1::text[], $2::text[], $3::text[]) as r(root, parent, uri)
     on conflict ("rootUri", uri) do update set "deletedAt" = excluded."deletedAt" where op_thread_reply."deletedAt" is null`,
    [sorted.map((r) => r.rootUri), sorted.map((r) => r.parentUri), sorted.map((r) => r.uri)],
  );
}

/** The transaction's time as the AppView writes its own (`deletedAt`). */
const NOW = `to_char(now() at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** Marks removed replies deleted in op_thread_reply, at the transaction's time (the AppView uses its clock too). */
async function softDeleteOpReplies(tx: SqlExecutor, uris: readonly string[]): Promise<void> {
  if (uris.length === 0) return;
  await tx.query(
    `update op_thread_reply set "deletedAt" = ${NOW}
     where uri = any($1::text[]) and "deletedAt" is null`,
    [[...uris].sort()],
  );
}
