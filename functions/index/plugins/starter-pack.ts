// app.bsky.graph.starterpack -> starter_pack (name and list are required). The join notification comes from the
// joiner's profile (profile.ts). No counts.
import { atUri, createdAt, str } from './fields.ts';
import { tablePlugin } from './table.ts';

export const starterPackPlugin = tablePlugin({
  collection: 'app.bsky.graph.starterpack',
  family: 'starterpack',
  table: 'starter_pack',
  columns: { uri: 'text', cid: 'text', creator: 'text', name: 'text', createdAt: 'text', indexedAt: 'text' },
  row(r) {
    const name = str(r.record['name']);
    if (name === undefined || atUri(r.record['list']) === undefined) return undefined;
    return { uri: r.uri, cid: r.cid, creator: r.did, name, createdAt: createdAt(r.record['createdAt']), indexedAt: r.indexedAt };
  },
});
