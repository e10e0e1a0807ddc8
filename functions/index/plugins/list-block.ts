// app.bsky.graph.listblock -> list_block: the creator blocks everyone on the subject list. No counts.
import { atUri, createdAt } from './fields.ts';
import { tablePlugin } from './table.ts';

export const listBlockPlugin = tablePlugin({
  collection: 'app.bsky.graph.listblock',
  family: 'listblock',
  table: 'list_block',
  unique: ['creator', 'subjectUri'],
  columns: { uri: 'text', cid: 'text', creator: 'text', subjectUri: 'text', createdAt: 'text', indexedAt: 'text' },
  row(r) {
    const subject = atUri(r.record['subject']);
    if (subject === undefined) return undefined;
    return { uri: r.uri, cid: r.cid, creator: r.did, subjectUri: subject, createdAt: createdAt(r.record['createdAt']), indexedAt: r.indexedAt };
  },
});
