// app.bsky.feed.generator -> feed_generator. Its likes are ordinary likes: the like plugin counts them in post_agg
// under the generator's URI, as the AppView does.
import { blobCid, createdAt, did, jsonText, str } from './fields.ts';
import { tablePlugin } from './table.ts';

export const feedGeneratorPlugin = tablePlugin({
  collection: 'app.bsky.feed.generator',
  family: 'feedgen',
  table: 'feed_generator',
  columns: {
    uri: 'text', cid: 'text', creator: 'text', feedDid: 'text', displayName: 'text', description: 'text',
    descriptionFacets: 'text', avatarCid: 'text', createdAt: 'text', indexedAt: 'text',
  },
  row(r) {
    const feedDid = did(r.record['did']);
    if (feedDid === undefined) return undefined;
    return {
      uri: r.uri, cid: r.cid, creator: r.did, feedDid, displayName: str(r.record['displayName']) ?? null,
      description: str(r.record['description']) ?? null, descriptionFacets: jsonText(r.record['descriptionFacets']),
      avatarCid: blobCid(r.record['avatar']) ?? null, createdAt: createdAt(r.record['createdAt']), indexedAt: r.indexedAt,
    };
  },
});
