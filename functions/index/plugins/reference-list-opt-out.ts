// app.bsky.graph.referencelistoptout -> reference_list_opt_out: the subject must be exactly a list's AT-URI. No counts.
import { createdAt, str, uriParts } from './fields.ts';
import { tablePlugin } from './table.ts';

export const referenceListOptOutPlugin = tablePlugin({
  collection: 'app.bsky.graph.referencelistoptout',
  family: 'listoptout',
  table: 'reference_list_opt_out',
  columns: { uri: 'text', cid: 'text', creator: 'text', subjectUri: 'text', createdAt: 'text', indexedAt: 'text' },
  row(r) {
    const subject = str(r.record['subject']);
    if (subject === undefined || uriParts(subject)?.collection !== 'app.bsky.graph.list') return undefined;
    return { uri: r.uri, cid: r.cid, creator: r.did, subjectUri: subject, createdAt: createdAt(r.record['createdAt']), indexedAt: r.indexedAt };
  },
});
