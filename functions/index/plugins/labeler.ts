// app.bsky.labeler.service -> labeler, for rkey `self` only (the AppView ignores other rkeys). No counts.
import { createdAt } from './fields.ts';
import { tablePlugin } from './table.ts';

export const labelerPlugin = tablePlugin({
  collection: 'app.bsky.labeler.service',
  family: 'labeler',
  table: 'labeler',
  columns: { uri: 'text', cid: 'text', creator: 'text', createdAt: 'text', indexedAt: 'text' },
  row(r) {
    if (r.rkey !== 'self') return undefined;
    return { uri: r.uri, cid: r.cid, creator: r.did, createdAt: createdAt(r.record['createdAt']), indexedAt: r.indexedAt };
  },
});
