// The notifications a post makes, as the AppView makes them when posts arrive parents first: a mention to each DID its
// facets mention, a quote to the quoted post's author (unless the quote breaks a post gate), and a reply to the author
// of each ancestor up to four levels up (unless the reply breaks the thread gate; none above a reply the root's gate
// hid when the reply was indexed: a gate its batch changed is read as it stood at the reply's position). One notification per recipient per post (mention before quote before reply, nearest ancestor first), none to
// the post's own author.
// Order-independent: a reply indexed before its parent notifies the ancestors present, and the post that completes a
// chain later adds, for each reply below it (up to four levels), the notifications that were missing. An ancestor
// its batch removes after the reply (or makes and removes around it) still counts: it was there when the reply came
// (ancestorsGoneSince).
import type { SqlExecutor } from '../ports.ts';
import { checkRows } from '../sql-rows.ts';
import { gateMatchesPost, mentionsOf } from './gates.ts';
import { didOf, insertNotifications, type Notification } from './notifications.ts';
import { obj, strongRef, uriParts } from './plugins/fields.ts';
import type { BatchOps, CountedOp, JsonObject } from './plugins/types.ts';
import { heldBefore, opsByUri, transitions, type Transition } from './transitions.ts';

const REPLY_DEPTH = 4;
const THREADGATE = 'app.bsky.feed.threadgate';

/**
 * The posts named ($1) and every reply up to four levels below one of them. NOTE: the columns travel with the
 * recursion; joining its uris back to post afterwards let the planner hash the whole post table once a batch (a
 * prepared statement's generic plan, made while the table was small; tests/integration/index/post-plans.test.ts).
 * Each level's replies are looked up by key (a lateral subquery the planner may not flatten, `offset 0`): as a join
 * it was planned as a scan of the whole post table when the table had no statistics.
 */
export const CHAIN_CANDIDATES = `with recursive below(uri, cid, creator, "replyRoot", "violatesThreadGate", "sortAt", depth) as (
     select uri, cid, creator, "replyRoot", "violatesThreadGate", "sortAt", 0 from post where uri = any($1::text[])
     union all
     select p.uri, p.cid, p.creator, p."replyRoot", p."violatesThreadGate", p."sortAt", b.depth + 1
     from below b cross join lateral (select uri, cid, creator, "replyRoot", "violatesThreadGate", "sortAt" from post
       where post."replyParent" = b.uri offset 0) as p
     where b.depth < ${REPLY_DEPTH})
   select distinct uri, cid, creator, "replyRoot", "violatesThreadGate", "sortAt" from below order by uri`;

export interface FreshPost {
  uri: string;
  record: JsonObject;
  /** The post it quotes, when it embeds one and does not break its post gate. */
  quoted: string | null;
  /**
   * The replies its root's thread gate hid when the post was indexed, when its batch changed that gate (hiddenAt);
   * undefined: the gate stored now is the one it was indexed under.
   */
  hidden?: ReadonlySet<string>;
  /** Its op's place in the batch: the ancestors it notifies include those the batch removed after it. */
  position?: number;
}

/** The posts the batch removed (uri -> parent), and the ops of the posts it deletes: only those can be gone by its end. */
export interface GonePosts {
  gone: ReadonlyMap<string, string | null>;
  ops: readonly CountedOp[];
}

/**
 * The replies a root's thread gate hides as it stood at a position of the batch, as the AppView reads the gate when
 * it indexes each reply, so a reply indexed before a gate hid its ancestor notifies above it whatever the batch
 * boundaries; undefined for a root whose gate the batch did not change (the stored gate was in force throughout).
 */
export function hiddenAt(batch: BatchOps): (root: string, position: number) => ReadonlySet<string> | undefined {
  const changes = new Map<string, Transition[]>();
  const byGate = new Map<string, { position: number; event: BatchOps['versioned'][number]['event'] }[]>();
  for (const op of batch.versioned) {
    if (op.event.collection !== THREADGATE) continue;
    const list = byGate.get(op.uri);
    if (list === undefined) byGate.set(op.uri, [op]);
    else list.push(op);
  }
  if (byGate.size === 0) return () => undefined;
  for (const [gate, ops] of byGate) changes.set(gate, transitions(batch.before.get(gate), ops));
  return (root, position) => {
    const parts = uriParts(root);
    const gate = parts === undefined ? undefined : `at://${parts.did}/${THREADGATE}/${parts.rkey}`;
    const list = gate === undefined ? undefined : changes.get(gate);
    if (gate === undefined || list === undefined) return undefined;
    let record = batch.before.get(gate)?.record ?? null;
    for (const t of list) {
      if (t.position > position) break;
      record = t.to.type === 'delete' ? null : t.to.record;
    }
    const hidden = record !== null && gateMatchesPost(gate, record) ? record['hiddenReplies'] : undefined;
    return new Set(Array.isArray(hidden) ? hidden.filter((u): u is string => typeof u === 'string') : []);
  };
}

const CANDIDATE = { uri: 'string', cid: 'string', creator: 'string', replyRoot: 'string?', violatesThreadGate: 'boolean?', sortAt: 'string' } as const;

/**
 * `gated`: the roots that have a thread-gate history, when the caller knows them (undefined: look them all up).
 * Notifies for `fresh` posts (just inserted) and for `allowed` replies (just found to keep the thread gate after all),
 * and completes the chains they join.
 */
export async function notifyPosts(
  tx: SqlExecutor, gated: ReadonlyMap<string, unknown> | undefined, fresh: readonly FreshPost[], allowed: readonly string[] = [], history?: GonePosts,
): Promise<void> {
  if (fresh.length === 0 && allowed.length === 0) return;
  const freshUris = [...fresh.map((p) => p.uri), ...allowed];
  // The fresh posts and every reply up to four levels below one of them: the chains this batch may have completed.
  const candidates = checkRows(await tx.query(CHAIN_CANDIDATES, [freshUris]), CANDIDATE);
  if (candidates.length === 0) return;
  const replies = candidates.filter((c) => c.replyRoot !== null && c.violatesThreadGate !== true);
  const ancestors = new Map<string, string[]>();
  if (replies.length > 0) {
    const rows = checkRows(await tx.query(
      `with recursive up(start, uri, parent, height) as (
         select p.uri, p.uri, p."replyParent", 0 from post p where p.uri = any($1::text[])
         union all
         select up.start, p.uri, p."replyParent", up.height + 1 from up
           cross join lateral (select uri, "replyParent" from post where post.uri = up.parent offset 0) as p
         where up.height < ${REPLY_DEPTH})
       select start, uri, parent, height from up order by start, height`,
      [replies.map((r) => r.uri)],
    ), { start: 'string', uri: 'string', parent: 'string?', height: 'number' });
    const ends = new Map<string, { parent: string | null; height: number }>();
    for (const r of rows) {
      ends.set(r.start, { parent: r.parent, height: r.height });
      if (r.height === 0) continue;
      const list = ancestors.get(r.start);
      if (list === undefined) ancestors.set(r.start, [r.uri]);
      else list.push(r.uri);
    }
    if (history !== undefined && history.ops.length > 0) {
      await ancestorsGoneSince(tx, fresh, ends, ancestors, history);
    }
  }
  const freshByUri = new Map(fresh.map((p) => [p.uri, p]));
  const old = candidates.filter((c) => !freshByUri.has(c.uri)).map((c) => c.uri);
  const already = new Map<string, Set<string>>();
  if (old.length > 0) {
    const rows = checkRows(await tx.query(
      `select "recordUri", did from notification where "recordUri" = any($1::text[])`,
      [old],
    ), { recordUri: 'string', did: 'string' });
    for (const r of rows) {
      const set = already.get(r.recordUri);
      if (set === undefined) already.set(r.recordUri, new Set([r.did]));
      else set.add(r.did);
    }
  }
  // Hidden replies live in thread gates: only roots with a gate history can have one (`gated`, when the caller read it).
  const roots = [...new Set(replies.map((r) => r.replyRoot as string))];
  const hidden = await hiddenReplies(tx, gated === undefined ? roots : roots.filter((r) => gated.has(r)));

  const out: Notification[] = [];
  for (const c of candidates) {
    const notified = new Set([c.creator, ...(already.get(c.uri) ?? [])]);
    const notify = (did: string, reason: string, reasonSubject: string | null) => {
      if (notified.has(did)) return;
      notified.add(did);
      out.push({ did, recordUri: c.uri, recordCid: c.cid, author: c.creator, reason, reasonSubject, sortAt: c.sortAt });
    };
    const own = freshByUri.get(c.uri);
    if (own !== undefined) {
      for (const did of mentionsOf(own.record)) notify(did, 'mention', null);
      if (own.quoted !== null) notify(didOf(own.quoted), 'quote', own.quoted);
    }
    if (c.replyRoot === null || c.violatesThreadGate === true) continue;
    const hiddenHere = own?.hidden ?? hidden.get(c.replyRoot);
    for (const ancestor of ancestors.get(c.uri) ?? []) {
      notify(didOf(ancestor), 'reply', ancestor);
      if (hiddenHere?.has(ancestor) === true) break;
    }
  }
  await insertNotifications(tx, out);
}

/** The replies each root's thread gate hides (threadgate.hiddenReplies), from the gates indexed now. */
async function hiddenReplies(tx: SqlExecutor, roots: readonly string[]): Promise<Map<string, Set<string>>> {
  const out = new Map<string, Set<string>>();
  if (roots.length === 0) return out;
  const rows = checkRows(await tx.query(
    `select g."postUri", r.json from thread_gate g join record r on r.uri = g.uri
     where g."postUri" = any($1::text[])`,
    [roots],
  ), { postUri: 'string', json: 'string' });
  for (const row of rows) {
    const list = (JSON.parse(row.json) as { hiddenReplies?: unknown }).hiddenReplies;
    if (Array.isArray(list)) out.set(row.postUri, new Set(list.filter((u): u is string => typeof u === 'string')));
  }
  return out;
}

/**
 * The ancestors a fresh reply had at its place in the batch, where the batch changed its chain: a post the batch
 * removed after the reply (or made before it and removed after it), or edited after it to reply elsewhere, was there,
 * with the parent it had then, when the reply came, and the AppView, indexing one event at a time, notified its
 * author; the removal or edit then takes only the notifications that post made itself. Read after the batch's writes,
 * the chain stopped short of it, or went up another thread, so in one batch that notification was lost. From the first
 * ancestor the batch changed, the chain is walked as it stood at the reply's place.
 */
async function ancestorsGoneSince(
  tx: SqlExecutor, fresh: readonly FreshPost[], ends: ReadonlyMap<string, { parent: string | null; height: number }>,
  ancestors: Map<string, string[]>, history: GonePosts,
): Promise<void> {
  // Each such post's changes in the batch (the rev rule applied), from nothing: what it was before is `gone`'s.
  const steps = new Map([...opsByUri(history.ops)].map(([uri, ops]) => [uri, transitions(undefined, ops)]));
  const changed = (uri: string) => steps.has(uri) || history.gone.has(uri);
  /** The parent of `uri` if the post was there at `position` (a post the batch changed); undefined if it was not. */
  const thereThen = (uri: string, position: number): { parent: string | null } | undefined => {
    const held = heldBefore(steps.get(uri) ?? [], position);
    if (held === undefined) return history.gone.has(uri) ? { parent: history.gone.get(uri) ?? null } : undefined;
    return held === null ? undefined : { parent: strongRef(obj(held['reply'])?.['parent'])?.uri ?? null };
  };
  for (const post of fresh) {
    if (post.position === undefined) continue;
    const stored = ancestors.get(post.uri) ?? [];
    const end = ends.get(post.uri);
    const from = stored.findIndex(changed);
    let list: string[];
    let next: string | null;
    /** Past the stored chain: a stored post met there needs a lookup. */
    let offChain: boolean;
    if (from >= 0) {
      list = stored.slice(0, from);
      next = stored[from] ?? null;
      offChain = true;
    } else {
      // The stored chain holds nothing the batch changed: it goes on only where it broke (at a removed post).
      if (end === undefined || end.parent === null || end.height >= REPLY_DEPTH) continue;
      list = [...stored];
      next = end.parent;
      offChain = false;
    }
    while (next !== null && list.length < REPLY_DEPTH && !list.includes(next) && next !== post.uri) {
      if (changed(next)) {
        const then = thereThen(next, post.position);
        // Not there yet at the reply's place (made later in the batch): the chain ended there then.
        if (then === undefined) break;
        list.push(next);
        next = then.parent;
        offChain = true;
        continue;
      }
      // The stored walk ended at this parent, which the batch did not touch: not there then either.
      if (!offChain) break;
      // Above a post the batch changed, a stored post goes on the chain (one lookup each, only there).
      const [row] = checkRows(await tx.query(`select "replyParent" from post where uri = $1`, [next]), { replyParent: 'string?' });
      if (row === undefined) break;
      list.push(next);
      next = row.replyParent;
    }
    if (list.length > 0) ancestors.set(post.uri, list);
    else ancestors.delete(post.uri);
  }
}
