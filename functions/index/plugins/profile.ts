// app.bsky.actor.profile -> profile, for rkey `self` only (the AppView ignores other rkeys). No aggregates.
import { deleteRows, insertRows } from '../rows.ts';
import { blobCid, createdAt, obj, str, strongRef } from './fields.ts';
import type { Plugin } from './types.ts';

const COLUMNS = {
  uri: 'text', cid: 'text', creator: 'text', displayName: 'text', description: 'text', avatarCid: 'text',
  bannerCid: 'text', joinedViaStarterPackUri: 'text', pinnedPost: 'text', pinnedPostCid: 'text', createdAt: 'text', indexedAt: 'text',
} as const;

export const profilePlugin: Plugin = {
  collection: 'app.bsky.actor.profile',
  family: 'profile',
  async insert(tx, records) {
    const invalid: string[] = [];
    const rows = [];
    for (const r of records) {
      if (r.rkey !== 'self') {
        invalid.push(r.uri);
        continue;
      }
      const pinned = strongRef(r.record['pinnedPost']);
      rows.push({
        uri: r.uri, cid: r.cid, creator: r.did,
        displayName: str(r.record['displayName']) ?? null,
        description: str(r.record['description']) ?? null,
        avatarCid: blobCid(r.record['avatar']) ?? null,
        bannerCid: blobCid(r.record['banner']) ?? null,
        joinedViaStarterPackUri: str(obj(r.record['joinedViaStarterPack'])?.['uri']) ?? null,
        pinnedPost: pinned?.uri ?? null,
        pinnedPostCid: pinned?.cid ?? null,
        createdAt: r.record['createdAt'] === undefined ? r.indexedAt : createdAt(r.record['createdAt']),
        indexedAt: r.indexedAt,
      });
    }
    await insertRows(tx, 'profile', COLUMNS, rows, { orderBy: 'uri', onConflict: '(uri) do nothing' });
    return invalid;
  },
  async remove(tx, uris) {
    await deleteRows(tx, 'profile', 'uri', uris);
  },
};
