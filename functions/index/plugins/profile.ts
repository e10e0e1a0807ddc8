// app.bsky.actor.profile -> profile, for rkey `self` only (the AppView ignores other rkeys). No aggregates.
import { blobCid, createdAt, obj, str, strongRef } from './fields.ts';
import type { RowPlugin } from './types.ts';

const COLUMNS = {
  uri: 'text', cid: 'text', creator: 'text', displayName: 'text', description: 'text', avatarCid: 'text',
  bannerCid: 'text', joinedViaStarterPackUri: 'text', pinnedPost: 'text', pinnedPostCid: 'text', createdAt: 'text', indexedAt: 'text',
} as const;

export const profilePlugin: RowPlugin = {
  collection: 'app.bsky.actor.profile',
  family: 'profile',
  tables: [{ table: 'profile', columns: COLUMNS, key: 'uri', onConflict: '(uri) do nothing' }],
  rows(r) {
    if (r.rkey !== 'self') return undefined;
    const pinned = strongRef(r.record['pinnedPost']);
    const row = {
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
    };
    return { profile: [row] };
  },
};
