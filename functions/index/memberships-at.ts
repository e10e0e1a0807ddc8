// Follows and list items as they stood at a reply's place in its batch, for a thread gate's follower, following and
// list rules. The batch's follows and list items are written before its posts are judged (PLUGINS order), so the
// tables hold the batch's end there, and its state before the batch when a gate's version judges stored replies again
// (plugins with `versions` run before any insert): a reply followed by the replier's follow in one batch was judged allowed, and one followed
// by an unfollow violating, where one event at a time (and the AppView) judged the other way. What the batch touched
// is replayed here up to the reply's position: each record's last op before it, or what it was before the batch; and
// the stored duplicates of what it removed hold their pair from then on (storedDuplicates).
import { isBackfillSeq, type JsonObject } from '../events.ts';
import type { SqlExecutor } from '../ports.ts';
import { checkRows } from '../sql-rows.ts';
import { didOf } from './notifications.ts';
import type { CountedOp, StoredOp } from './plugins/types.ts';
import { POST_COLLECTION } from './plugins/post-collection.ts';
import { atUri, did, uriParts } from './plugins/fields.ts';
import { heldBefore, opsByUri, transitions } from './transitions.ts';

export const FOLLOW = 'app.bsky.graph.follow';
export const LIST_ITEM = 'app.bsky.graph.listitem';
const THREADGATE = 'app.bsky.feed.threadgate';

/** The batch's follow and list-item ops (positions), and what `record` held of those it updates or deletes before it. */
export interface MembershipHistory {
  ops: readonly CountedOp[];
  before: ReadonlyMap<string, StoredOp>;
  /**
   * The batch's gate ops (others are passed over): a reply whose gate in force was written by one later in the batch
   * was judged again there, one event at a time, by the follows and list items as they stood then (gates.ts).
   */
  gates?: readonly CountedOp[];
}

/**
 * The batch's follow and list-item ops, when it has a reply to judge or a thread gate that judges stored replies again
 * at its place (else there is nothing to replay them for).
 */
export function membershipOps(counted: readonly CountedOp[]): CountedOp[] {
  const judging = counted.some((op) => op.event.collection === THREADGATE
    || (op.event.type !== 'delete' && op.event.collection === POST_COLLECTION && op.event.record['reply'] !== undefined));
  return judging ? counted.filter((op) => op.event.collection === FOLLOW || op.event.collection === LIST_ITEM) : [];
}

/**
 * Of those, the records whose state before the batch is needed: those whose first op here is no create, or a
 * backfill's (which writes every record as a create, those the index already holds included).
 */
export function membershipsBefore(ops: readonly CountedOp[]): string[] {
  const first = new Map<string, CountedOp>();
  for (const op of ops) if (!first.has(op.uri) || op.position < first.get(op.uri)!.position) first.set(op.uri, op);
  return [...first.values()].filter((op) => op.event.type !== 'create' || isBackfillSeq(op.event.seq)).map((op) => op.uri);
}

/**
 * `creator subject` of a follow, `list subject` of a list item of its creator's own list, read as the plugins read
 * them for their rows (plugins/follow.ts, plugins/list-item.ts: the AppView indexes no item of another's list).
 */
function keyOf(collection: string, uri: string, record: JsonObject | null | undefined): string | undefined {
  if (record == null) return undefined;
  const subject = did(record['subject']);
  if (subject === undefined) return undefined;
  if (collection === FOLLOW) return `${didOf(uri)} ${subject}`;
  const list = atUri(record['list']);
  return list !== undefined && uriParts(list)?.did === didOf(uri) ? `${list} ${subject}` : undefined;
}

export interface MembershipsAt {
  /** The follows (`creator subject`) at `position`: those the tables hold that the batch did not touch, and its own. */
  follows(position: number, atEnd: readonly { uri: string; key: string }[]): Set<string>;
  /** The list items (`list subject`) at `position`, likewise. */
  items(position: number, atEnd: readonly { uri: string; key: string }[]): Set<string>;
}

export function membershipsAt(history: MembershipHistory): MembershipsAt {
  // Each touched record's changes under the rev rule, from what it was before the batch (transitions.ts).
  const changes = [...opsByUri(history.ops)].map(([uri, ops]) => ({
    uri, collection: ops[0]!.event.collection, steps: transitions(history.before.get(uri), ops),
  }));
  const touched = new Set(changes.map((c) => c.uri));
  const at = (collection: string, position: number, atEnd: readonly { uri: string; key: string }[]): Set<string> => {
    const out = new Set<string>();
    for (const row of atEnd) if (!touched.has(row.uri)) out.add(row.key);
    for (const { uri, collection: of, steps } of changes) {
      if (of !== collection) continue;
      const held = heldBefore(steps, position);
      const key = keyOf(collection, uri, held === undefined ? history.before.get(uri)?.record : held);
      if (key !== undefined) out.add(key);
    }
    return out;
  };
  return {
    follows: (position, atEnd) => at(FOLLOW, position, atEnd),
    items: (position, atEnd) => at(LIST_ITEM, position, atEnd),
  };
}

/**
 * The stored duplicates (duplicate_record, duplicates.ts) of the follows and list items the batch updates or deletes,
 * each with its pair: one event at a time a duplicate takes the row over as its holder goes, and a reply after that
 * meets it, while the batch settles its duplicates only at its end. Read only when the batch has such an op.
 */
export async function storedDuplicates(tx: SqlExecutor, history: MembershipHistory): Promise<{ follows: { uri: string; key: string }[]; items: { uri: string; key: string }[] }> {
  const out: { follows: { uri: string; key: string }[]; items: { uri: string; key: string }[] } = { follows: [], items: [] };
  const holders = [...new Set(history.ops.filter((op) => op.event.type !== 'create').map((op) => op.uri))];
  if (holders.length === 0) return out;
  const rows = checkRows(await tx.query(
    `select d.uri, r.json from duplicate_record d join record r on r.uri = d.uri where d."duplicateOf" = any($1::text[])`,
    [holders],
  ), { uri: 'string', json: 'string' });
  for (const row of rows) {
    const collection = uriParts(row.uri)?.collection;
    if (collection !== FOLLOW && collection !== LIST_ITEM) continue;
    const key = keyOf(collection, row.uri, JSON.parse(row.json) as JsonObject);
    if (key !== undefined) (collection === FOLLOW ? out.follows : out.items).push({ uri: row.uri, key });
  }
  return out;
}
