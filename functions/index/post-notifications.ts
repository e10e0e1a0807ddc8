// The notifications a post makes, as the AppView makes them when posts arrive parents first: a mention to each DID its
// facets mention, a quote to the quoted post's author (unless the quote breaks a post gate), and a reply to the author
// of each ancestor up to four levels up (unless the reply breaks the thread gate; none above a reply the root's gate
// hid when the reply was indexed: a gate its batch changed is read as it stood at the reply's position). One notification per recipient per post (mention before quote before reply, nearest ancestor first), none to
// the post's own author.
// Order-independent: a reply indexed before its parent notifies the ancestors present, and the post that completes a
// chain later adds, for each reply below it (up to four levels), the notifications that were missing. Within a batch
// that changes a post of the chain, the chain is walked as it stood at each of those moments (ancestorsThroughTheBatch).
import type { SqlExecutor } from '../ports.ts';
import { checkRows } from '../sql-rows.ts';
import { gateMatchesPost, mentionsOf } from './gates.ts';
import { didOf, insertNotifications, type Notification } from './notifications.ts';
import { obj, strongRef, uriParts } from './plugins/fields.ts';
import type { BatchOps, CountedOp, GonePosts, JsonObject } from './plugins/types.ts';
import { heldBefore, opsByUri, transitions, type Transition } from './transitions.ts';

const REPLY_DEPTH = 4;
const THREADGATE = 'app.bsky.feed.threadgate';

/**
 * The posts named ($1) and every reply up to four levels below one of them, or below a post the batch made and removed
 * ($2: not there any more, found by their parent). NOTE: the columns travel with the recursion; joining its uris back
 * to post afterwards let the planner hash the whole post table once a batch (a prepared statement's generic plan, made
 * while the table was small; tests/integration/index/post-plans.test.ts). Each level's replies are looked up by key (a
 * lateral subquery the planner may not flatten, `offset 0`): as a join it was planned as a scan of the whole post
 * table when the table had no statistics.
 */
export const CHAIN_CANDIDATES = `with recursive below(uri, cid, creator, "replyRoot", "violatesThreadGate", "sortAt", depth) as (
     select uri, cid, creator, "replyRoot", "violatesThreadGate", "sortAt", 0 from post where uri = any($1::text[])
     union all
     select uri, cid, creator, "replyRoot", "violatesThreadGate", "sortAt", 1 from post where "replyParent" = any($2::text[])
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

/**
 * The posts the ops write and then remove: one event at a time each notified, while it was there, for the replies
 * stored below it (the chains it completed), and its removal took only the notifications it made itself.
 */
export function madeAndRemoved(ops: readonly CountedOp[]): string[] {
  return [...opsByUri(ops)].filter(([, own]) => {
    const steps = transitions(undefined, own);
    return steps.some((t) => t.to.type !== 'delete') && steps.at(-1)?.to.type === 'delete';
  }).map(([uri]) => uri);
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
  const made = history?.made ?? [];
  if (fresh.length === 0 && allowed.length === 0 && made.length === 0) return;
  const freshUris = [...fresh.map((p) => p.uri), ...allowed];
  // The fresh posts and every reply up to four levels below one of them, or below a post made and removed here: the
  // chains this batch may have completed.
  const candidates = checkRows(await tx.query(CHAIN_CANDIDATES, [freshUris, made]), CANDIDATE);
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
    const storedParents = new Map<string, string | null>();
    for (const r of rows) {
      storedParents.set(r.uri, r.parent);
      ends.set(r.start, { parent: r.parent, height: r.height });
      if (r.height === 0) continue;
      const list = ancestors.get(r.start);
      if (list === undefined) ancestors.set(r.start, [r.uri]);
      else list.push(r.uri);
    }
    if (history !== undefined && history.changed.size > 0) {
      await ancestorsThroughTheBatch(tx, fresh, replies, ends, ancestors, storedParents, history);
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

/**
 * The notifications a post the batch made and removed made for the replies stored below it (GonePosts.made), when no
 * post is inserted to walk them with (notifyPosts does, in the same statements, otherwise).
 */
export async function notifyBelowRemoved(tx: SqlExecutor, history: GonePosts | undefined): Promise<void> {
  if (history !== undefined && history.made.length > 0) await notifyPosts(tx, undefined, [], [], history);
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
 * The ancestors a fresh reply notifies when the batch changed a post of its chain (deleted, edited, or written and
 * removed). One event at a time, a reply notifies the authors of its chain as it stands when the reply is indexed, and
 * again (those not yet notified) whenever a post written later completes or redirects that chain (the AppView's
 * notifications for the replies below a new post); a removal then takes only the notifications the removed post made
 * itself. Read after the batch's writes, the chain is only its last state: an ancestor removed after the reply, or
 * edited to reply elsewhere, was lost, and one written after the chain broke was counted. So the chain is walked as it
 * stood at the reply's place and after each later write of a post it meets, and the ancestors of those walks are
 * notified, nearest first, walk by walk. Replies whose last chain holds no changed post keep it (no work).
 */
async function ancestorsThroughTheBatch(
  tx: SqlExecutor, fresh: readonly FreshPost[], replies: readonly { uri: string }[], ends: ReadonlyMap<string, { parent: string | null; height: number }>,
  ancestors: Map<string, string[]>, storedParents: Map<string, string | null>, history: GonePosts,
): Promise<void> {
  const byUri = opsByUri(history.ops);
  const steps = new Map<string, Transition[]>();
  /** The batch's changes of a post (the rev rule applied), from nothing: what it was before is `gone`'s or stored. */
  const stepsOf = (uri: string): Transition[] | undefined => {
    const ops = byUri.get(uri);
    if (ops === undefined) return undefined;
    let out = steps.get(uri);
    if (out === undefined) steps.set(uri, (out = transitions(undefined, ops)));
    return out;
  };
  /** A stored post's parent (undefined: no such post), each looked up once. */
  const storedParent = async (uri: string): Promise<string | null | undefined> => {
    if (storedParents.has(uri)) return storedParents.get(uri);
    const [row] = checkRows(await tx.query(`select "replyParent" from post where uri = $1`, [uri]), { replyParent: 'string?' });
    const parent = row === undefined ? undefined : row.replyParent;
    if (parent !== undefined) storedParents.set(uri, parent);
    return parent;
  };
  /** Whether `uri` was there once the op at `moment` was applied, and its parent then. */
  const at = async (uri: string, moment: number): Promise<{ parent: string | null } | undefined> => {
    const own = stepsOf(uri);
    const held = own === undefined ? undefined : heldBefore(own, moment + 1);
    if (held === null) return undefined;
    if (held !== undefined) return { parent: strongRef(obj(held['reply'])?.['parent'])?.uri ?? null };
    // Not written by the batch up to then: as it was before the batch.
    if (history.gone.has(uri)) return { parent: history.gone.get(uri) ?? null };
    if (own !== undefined && history.inserted.has(uri)) return undefined;
    const parent = await storedParent(uri);
    return parent === undefined ? undefined : { parent };
  };
  const freshByUri = new Map(fresh.map((p) => [p.uri, p]));
  for (const { uri } of replies) {
    const own = freshByUri.get(uri);
    // A reply stored before the batch: its chain before the batch notified already; it is walked from the batch's start.
    if (own !== undefined && own.position === undefined) continue;
    const end = ends.get(uri);
    const last = ancestors.get(uri) ?? [];
    if (!last.some((u) => history.changed.has(u)) && !(end?.parent != null && history.changed.has(end.parent))) continue;
    const start = own?.position ?? -1;
    const first = own === undefined ? storedParents.get(uri) ?? null : strongRef(obj(own.record['reply'])?.['parent'])?.uri ?? null;
    // The moments in time order, each walked once (a write met later may come before one met earlier).
    const pending = new Set([start]);
    const seen = new Set(pending);
    const union: string[] = [];
    while (pending.size > 0) {
      const moment = Math.min(...pending);
      pending.delete(moment);
      const met: string[] = [];
      let next = first;
      while (next !== null && met.length < REPLY_DEPTH && !met.includes(next) && next !== uri) {
        const there = await at(next, moment);
        // Every later write of a post the walk met may complete or redirect the chain: a moment to walk it again.
        for (const op of byUri.get(next) ?? []) {
          if (op.event.type !== 'delete' && op.position > start && !seen.has(op.position)) {
            seen.add(op.position);
            pending.add(op.position);
          }
        }
        if (there === undefined) break;
        met.push(next);
        next = there.parent;
      }
      // A stored reply's chain as it stood before the batch is not walked for notifications: they were made then.
      if (moment === -1) continue;
      for (const u of met) if (!union.includes(u)) union.push(u);
    }
    if (union.length > 0) ancestors.set(uri, union);
    else ancestors.delete(uri);
  }
}
