// What a batch does to each post, as the AppView would do it one event at a time: a delete, or a write that changes the
// post's CID (an update), REMOVES it: its own rows go, and so do the quote rows of other posts that name it (the
// AppView's deleteFn, which its updateRecord runs too); a write of the CID already held (a backfill or a replay
// rewriting the record) changes nothing, as the AppView's backfill skips a record whose CID it holds. Most posts have
// one op in a batch and decide alone (handler.ts, the post plugin's `remove`); the ones whose order within the batch
// matters are replayed here from what `record` held: a post with several ops, and a quote written in the same batch as
// an op of the post it quotes (a quote written before that post's removal loses its row, one written after keeps it).
import type { RecordOp } from './plan.ts';
import type { RecordWriteEvent } from '../events.ts';
import type { JsonObject, Removal, StoredOp } from './plugins/types.ts';
import { opsByUri, transitions } from './transitions.ts';
import { push } from './processor.ts';
import { collectionOf, obj } from './plugins/fields.ts';
import { embeddedRecord, POST_COLLECTION, postRows } from './plugins/post.ts';


/** The post a post record quotes (the post plugin's embedded record, when it is a post), or undefined. */
export function quotedPost(record: JsonObject): string | undefined {
  return quotedRef(record)?.uri;
}

/** The post a post version quotes, with the CID it names. */
function quotedRef(record: JsonObject): { uri: string; cid: string } | undefined {
  const ref = embeddedRecord(obj(record['embed']));
  return ref !== undefined && collectionOf(ref.uri) === POST_COLLECTION ? ref : undefined;
}

/** The thread of a post version that is its author's own reply (its root is the author's), as the post plugin reads it. */
type OpReply = { rootUri: string; parentUri: string };

function opReplyOf(uri: string, event: RecordWriteEvent): OpReply | undefined {
  const rows = postRows({ uri, cid: event.cid, did: event.did, collection: event.collection, rkey: event.rkey, record: event.record, indexedAt: event.time });
  const root = rows?.post['replyRoot'];
  const parent = rows?.post['replyParent'];
  return typeof root === 'string' && typeof parent === 'string' && root.split('/')[2] === event.did ? { rootUri: root, parentUri: parent } : undefined;
}

/**
 * The posts whose fate needs the batch's order: those with more than one counted op, and, where a counted write
 * quotes a post that has an op in the batch too, both of them. Their stored state is read before the rev gate.
 */
export function postsNeedingHistory(counted: readonly RecordOp[]): Set<string> {
  const ops = new Map<string, number>();
  for (const op of counted) if (op.event.collection === POST_COLLECTION) ops.set(op.uri, (ops.get(op.uri) ?? 0) + 1);
  const out = new Set<string>();
  for (const [uri, n] of ops) if (n > 1) out.add(uri);
  for (const op of counted) {
    if (op.event.collection !== POST_COLLECTION || op.event.type === 'delete') continue;
    const subject = quotedPost(op.event.record);
    if (subject !== undefined && ops.has(subject)) {
      out.add(op.uri);
      out.add(subject);
    }
  }
  return out;
}

export interface PostFates {
  /** Posts a removal hit in the batch (their rows go), with what the last removal takes of the quote rows naming them. */
  removals: Map<string, Removal>;
  /** Posts whose final version is new to the index (a create, or a write of another CID): their rows are written. */
  written: Set<string>;
  /** Quotes written by this batch whose quoted post a later op of the batch removed: no quote row. */
  cut: Set<string>;
  /**
   * When each written post's final version was first written (the event time of its first op in the batch): its
   * rows' time, as one event at a time would have written them there, and later writes of the same CID changed nothing.
   */
  bornAt: Map<string, string>;
  /**
   * Where each written post's final version was first written: its place in the batch, where it is judged (gates,
   * follows replayed to it) and its chain walked, as one event at a time judged it there (a rewrite of the same CID
   * later changes nothing).
   */
  bornPosition: Map<string, number>;
  /** Posts that end at the version `record` held, written again with nothing removed on the way: no edit, kept whole. */
  keptWhole: Set<string>;
}

/**
 * The fates of the posts `postsNeedingHistory` named, from what `record` held before the batch (`stored`) and the
 * batch's counted ops, applied one at a time in stream order under the rev rule.
 */
export function postFates(uris: ReadonlySet<string>, counted: readonly RecordOp[], stored: ReadonlyMap<string, StoredOp>): PostFates {
  const fates: PostFates = { written: new Set(), removals: new Map(), cut: new Set(), bornAt: new Map(), bornPosition: new Map(), keptWhole: new Set() };
  if (uris.size === 0) return fates;
  const byUri = opsByUri(counted.filter((op) => uris.has(op.uri)));
  /**
   * Each post's removals (a delete, or a write over another live CID: `cid`, the version written), and where each
   * post's final version was first written.
   */
  const removalsOf = new Map<string, { position: number; time: string; cid?: string }[]>();
  const born = new Map<string, { position: number; quotes: { uri: string; cid: string } | undefined; time: string }>();
  for (const [uri, ops] of byUri) {
    const steps = transitions(stored.get(uri), ops);
    let birth: { position: number; quotes: { uri: string; cid: string } | undefined; cid: string; time: string } | undefined;
    let removedTime: string | undefined;
    /** The last delete of the batch, and the latest time of those a write followed (what post_removal keeps). */
    // A tombstone held before the batch is a delete too: a write over it keeps its time, as settling it would.
    const held = stored.get(uri);
    let deleteTime: string | undefined = held !== undefined && held.record === null ? held.indexedAt : undefined;
    let deletedAt: string | undefined;
    /** The live version's thread when the batch wrote it as the author's own reply; those removed, by root. */
    let liveOpReply: OpReply | undefined;
    const opReplies = new Map<string, OpReply>();
    const removeOpReply = () => {
      if (liveOpReply !== undefined && !opReplies.has(liveOpReply.rootUri)) opReplies.set(liveOpReply.rootUri, liveOpReply);
      liveOpReply = undefined;
    };
    for (const t of steps) {
      if (t.to.type === 'delete') {
        push(removalsOf, uri, { position: t.position, time: t.to.time });
        removedTime = t.to.time;
        deleteTime = t.to.time;
        birth = undefined;
        removeOpReply();
        continue;
      }
      if (t.fromCid === t.to.cid) continue; // the same version written again: nothing changes
      // A write over another live CID removes the version before it; over nothing (or a tombstone) it only creates.
      if (t.fromCid !== '') {
        push(removalsOf, uri, { position: t.position, time: t.to.time, cid: t.to.cid });
        removedTime = t.to.time;
        removeOpReply();
      } else if (deleteTime !== undefined && (deletedAt === undefined || deleteTime > deletedAt)) {
        // The latest time, as post_removal keeps one event at a time (a later delete may be dated earlier).
        deletedAt = deleteTime;
      }
      liveOpReply = opReplyOf(uri, t.to);
      birth = { position: t.position, quotes: quotedRef(t.to.record), cid: t.to.cid, time: t.to.time };
    }
    if (removedTime !== undefined) {
      // A version it held before (deleted and made again at the same CID) may have had its quotes made then.
      const cid = birth?.cid;
      const fresh = cid !== undefined && steps.every((t) => t.fromCid !== cid);
      const removal: Removal = fresh ? { time: removedTime, cid } : { time: removedTime };
      if (deletedAt !== undefined) removal.deletedAt = deletedAt;
      if (opReplies.size > 0) removal.opReplies = [...opReplies.values()];
      fates.removals.set(uri, removal);
    }
    // Every write the held version again (a backfill beside a quote of its own), no delete: nothing changed.
    if (held !== undefined && held.record !== null && removedTime === undefined && birth === undefined && steps.length > 0) fates.keptWhole.add(uri);
    if (birth !== undefined) {
      fates.written.add(uri);
      fates.bornAt.set(uri, birth.time);
      fates.bornPosition.set(uri, birth.position);
      born.set(uri, birth);
    }
  }
  // A removal after the quote in the stream takes it as the removal's own statement does (cascadeToQuotes): when the
  // quote is no later by event time, and names another CID than the version an edit writes.
  for (const [uri, b] of born) {
    const quoted = b.quotes;
    if (quoted === undefined) continue;
    const takes = removalsOf.get(quoted.uri)?.some((r) => r.position > b.position && b.time <= r.time && r.cid !== quoted.cid);
    if (takes === true) fates.cut.add(uri);
  }
  return fates;
}
