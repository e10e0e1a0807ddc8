// Writes valid by their lexicon that the AppView's own insert refuses: a thread or post gate whose `post` is not in
// the gate's repo at the gate's rkey, and a list item of somebody else's list. Its insertFn throws, which rolls back
// the whole event: no `record` row for a create, the version before kept for an update. So they are not indexed at
// all here either, like a write its lexicon refuses (plan.ts). Found by a review against @atproto/bsky: we kept their
// `record` rows (which the AppView's views read gates from) and an edit of a gate to such a version removed the gate.
import type { RecordWriteEvent } from '../events.ts';
import { atUri, uriParts } from './plugins/fields.ts';
import type { JsonObject } from './plugins/types.ts';

const GATES = new Set(['app.bsky.feed.threadgate', 'app.bsky.feed.postgate']);
const LIST_ITEM = 'app.bsky.graph.listitem';

/**
 * Whether a gate record's `post` is in the gate's repo at its rkey: the AppView's check, which compares the
 * authority and the rkey only (a `post` naming another collection at that rkey passes: the gate applies to the post
 * with the gate's rkey, which is how every reader finds it).
 */
export function gateNamesItsPost(did: string, rkey: string, record: JsonObject): boolean {
  const uri = atUri(record['post']);
  const parts = uri === undefined ? undefined : uriParts(uri);
  return parts !== undefined && parts.did === did && parts.rkey === rkey;
}

/** Why the AppView refuses this write, or undefined. */
export function appViewRefusal(event: RecordWriteEvent): string | undefined {
  if (GATES.has(event.collection)) {
    return gateNamesItsPost(event.did, event.rkey, event.record) ? undefined : 'its post is not in its repo at its rkey (the AppView refuses it)';
  }
  if (event.collection === LIST_ITEM) {
    const list = atUri(event.record['list']);
    return list !== undefined && uriParts(list)?.did === event.did ? undefined : "its list is not its author's (the AppView refuses it)";
  }
  return undefined;
}
