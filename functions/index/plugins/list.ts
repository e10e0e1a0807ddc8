// app.bsky.graph.list -> list (name and purpose are required, as the lexicon says). No counts.
import { blobCid, createdAt, jsonText, str } from './fields.ts';
import { tablePlugin } from './table.ts';

export const listPlugin = tablePlugin({
  collection: 'app.bsky.graph.list',
  family: 'list',
  table: 'list',
  columns: {
    uri: 'text', cid: 'text', creator: 'text', name: 'text', purpose: 'text', description: 'text',
    descriptionFacets: 'text', avatarCid: 'text', createdAt: 'text', indexedAt: 'text',
  },
  row(r) {
    const name = str(r.record['name']);
    const purpose = str(r.record['purpose']);
    if (name === undefined || purpose === undefined) return undefined;
    return {
      uri: r.uri, cid: r.cid, creator: r.did, name, purpose, description: str(r.record['description']) ?? null,
      descriptionFacets: jsonText(r.record['descriptionFacets']), avatarCid: blobCid(r.record['avatar']) ?? null,
      createdAt: createdAt(r.record['createdAt']), indexedAt: r.indexedAt,
    };
  },
});
