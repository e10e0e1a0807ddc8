// app.bsky.graph.listitem -> list_item. Like the AppView, an item of somebody else's list is not indexed (only the
// list's creator can put people in it). No counts.
import { atUri, createdAt, did, uriParts } from './fields.ts';
import { tablePlugin } from './table.ts';

export const listItemPlugin = tablePlugin({
  collection: 'app.bsky.graph.listitem',
  family: 'listitem',
  table: 'list_item',
  unique: ['listUri', 'subjectDid'],
  columns: { uri: 'text', cid: 'text', creator: 'text', subjectDid: 'text', listUri: 'text', createdAt: 'text', indexedAt: 'text' },
  row(r) {
    const subject = did(r.record['subject']);
    const list = atUri(r.record['list']);
    if (subject === undefined || list === undefined || uriParts(list)?.did !== r.did) return undefined;
    return { uri: r.uri, cid: r.cid, creator: r.did, subjectDid: subject, listUri: list, createdAt: createdAt(r.record['createdAt']), indexedAt: r.indexedAt };
  },
});
