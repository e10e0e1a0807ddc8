// The notifications a post makes, as the AppView makes them when posts arrive parents first: a mention to each DID its
// facets mention, a quote to the quoted post's author (unless the quote breaks a post gate), and a reply to the author
// of each ancestor up to four levels up (unless the reply breaks the thread gate; none above a reply the root's gate
// hides). One notification per recipient per post (mention before quote before reply, nearest ancestor first), none to
// the post's own author.
// Order-independent: a reply indexed before its parent notifies the ancestors present, and the post that completes a
// chain later adds, for each reply below it (up to four levels), the notifications that were missing.
import type { SqlExecutor } from '../ports.ts';
import { checkRows } from '../sql-rows.ts';
import { mentionsOf } from './gates.ts';
import { didOf, insertNotifications, type Notification } from './notifications.ts';
import type { JsonObject } from './plugins/types.ts';

const REPLY_DEPTH = 4;

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
}

const CANDIDATE = { uri: 'string', cid: 'string', creator: 'string', replyRoot: 'string?', violatesThreadGate: 'boolean?', sortAt: 'string' } as const;

/**
 * `gated`: the roots that have a thread-gate history, when the caller knows them (undefined: look them all up).
 * Notifies for `fresh` posts (just inserted) and for `allowed` replies (just found to keep the thread gate after all),
 * and completes the chains they join.
 */
export async function notifyPosts(tx: SqlExecutor, gated: ReadonlyMap<string, unknown> | undefined, fresh: readonly FreshPost[], allowed: readonly string[] = []): Promise<void> {
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
       select start, uri, height from up where height > 0 order by start, height`,
      [replies.map((r) => r.uri)],
    ), { start: 'string', uri: 'string' });
    for (const r of rows) {
      const list = ancestors.get(r.start);
      if (list === undefined) ancestors.set(r.start, [r.uri]);
      else list.push(r.uri);
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
    const hiddenHere = hidden.get(c.replyRoot);
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
