// app.bsky.actor.profile -> profile, for rkey `self` only (the AppView ignores other rkeys). No aggregates.
// A profile that says it joined through a starter pack notifies the pack's creator 'starterpack-joined', once: the
// AppView neither notifies again on an edit nor withdraws it when the profile changes or goes.
import { deleteRows, insertRows } from '../rows.ts';
import { blobCid, createdAt, obj, str, strongRef } from './fields.ts';
import type { Plugin } from './types.ts';
import type { SqlExecutor } from '../../ports.ts';
import { didOf, insertNotifications } from '../notifications.ts';

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
    const fresh = await insertRows<{ uri: string; cid: string; creator: string; joinedViaStarterPackUri: string | null; indexedAt: string }>(
      tx, 'profile', COLUMNS, rows,
      { orderBy: 'uri', onConflict: '(uri) do nothing', returning: ['uri', 'cid', 'creator', 'joinedViaStarterPackUri', 'indexedAt'] },
    );
    await notifyJoins(tx, fresh);
    return invalid;
  },
  async remove(tx, uris) {
    await deleteRows(tx, 'profile', 'uri', uris);
  },
};

async function notifyJoins(tx: SqlExecutor, fresh: readonly { uri: string; cid: string; creator: string; joinedViaStarterPackUri: string | null; indexedAt: string }[]): Promise<void> {
  const joins = fresh.filter((p) => p.joinedViaStarterPackUri !== null && didOf(p.joinedViaStarterPackUri).startsWith('did:'));
  if (joins.length === 0) return;
  const notified = new Set(
    (await tx.query<{ recordUri: string }>(
      `select "recordUri" from notification where reason = 'starterpack-joined' and "recordUri" in (select json_array_elements_text($1::text::json))`,
      [JSON.stringify(joins.map((p) => p.uri))],
    )).map((n) => n.recordUri),
  );
  await insertNotifications(tx, joins.filter((p) => !notified.has(p.uri)).map((p) => ({
    did: didOf(p.joinedViaStarterPackUri as string), recordUri: p.uri, recordCid: p.cid, author: p.creator,
    reason: 'starterpack-joined', reasonSubject: p.joinedViaStarterPackUri, sortAt: p.indexedAt,
  })));
}
