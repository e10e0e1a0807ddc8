// app.bsky.actor.profile -> profile, for rkey `self` only (the AppView ignores other rkeys). No aggregates.
// A profile CREATED saying it joined through a starter pack notifies the pack's creator 'starterpack-joined': the
// AppView notifies on a profile's creation only (an edit adding the field does not notify) and never withdraws it.
// Worked out in `versions` from every op of the batch, one at a time, so batch boundaries change nothing.
import { deleteRows, insertRows } from '../rows.ts';
import { blobCid, obj, str, strongRef } from './fields.ts';
import type { Plugin } from './types.ts';
import type { SqlExecutor } from '../../ports.ts';
import { didOf, insertNotifications, type Notification } from '../notifications.ts';
import { transitions } from '../transitions.ts';
import type { CountedOp, StoredOp } from './types.ts';

const COLUMNS = {
  uri: 'text', cid: 'text', creator: 'text', displayName: 'text', description: 'text', avatarCid: 'text',
  bannerCid: 'text', joinedViaStarterPackUri: 'text', pinnedPost: 'text', pinnedPostCid: 'text', createdAt: 'text', indexedAt: 'text',
} as const;

export const profilePlugin: Plugin = {
  collection: 'app.bsky.actor.profile',
  family: 'profile',
  versions: (tx, ops, _deltas, before) => notifyJoins(tx, ops, before),
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
        // As written, unlike the other record types' (the AppView's profile plugin does not normalise it); without
        // one, the AppView's clock at indexing, here the event's time.
        createdAt: str(r.record['createdAt']) ?? r.indexedAt,
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

/** 'starterpack-joined' for each profile the batch creates (nothing stored before it, or a tombstone) with the field. */
async function notifyJoins(tx: SqlExecutor, ops: readonly CountedOp[], before: ReadonlyMap<string, StoredOp>): Promise<void> {
  const byUri = new Map<string, CountedOp[]>();
  for (const op of ops) if (op.event.rkey === 'self') byUri.set(op.uri, [...(byUri.get(op.uri) ?? []), op]);
  const out: Notification[] = [];
  for (const [uri, list] of byUri) {
    for (const { from, to } of transitions(before.get(uri), list)) {
      if (from !== null || to.type === 'delete') continue;
      const pack = str(obj(to.record['joinedViaStarterPack'])?.['uri']);
      if (pack === undefined || !didOf(pack).startsWith('did:')) continue;
      out.push({ did: didOf(pack), recordUri: uri, recordCid: to.cid, author: to.did, reason: 'starterpack-joined', reasonSubject: pack, sortAt: to.time });
    }
  }
  await insertNotifications(tx, out);
}
