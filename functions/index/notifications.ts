// The AppView's notification rows. Each plugin says which notifications a record it inserted makes (the AppView's
// reasons: like, repost, follow, reply, mention, quote, starterpack-joined, verified, unverified, like-via-repost,
// repost-via-repost), and they are written in the same transaction as the rows. Exact under replay because only rows
// a batch really inserted (RETURNING) or removed notify, and the rev gate lets each change through once; a record's
// removal removes the notifications it made, as the AppView's listing would hide them anyway. Blocked pairs get
// their rows like anyone (the AppView hides them when listing); self actions are skipped where the AppView skips them.
import type { SqlExecutor } from '../ports.ts';
import { insertRows } from './rows.ts';

export interface Notification {
  did: string;
  recordUri: string;
  recordCid: string;
  author: string;
  reason: string;
  reasonSubject: string | null;
  sortAt: string;
}

export const NOTIFICATION_COLUMNS = {
  did: 'text', recordUri: 'text', recordCid: 'text', author: 'text', reason: 'text', reasonSubject: 'text', sortAt: 'text',
} as const;

export async function insertNotifications(tx: SqlExecutor, notifications: readonly Notification[]): Promise<void> {
  if (notifications.length === 0) return;
  // NOTE: JSON arrays of plain objects; the spread keeps the Row type without a cast per field.
  await insertRows(tx, 'notification', NOTIFICATION_COLUMNS, notifications.map((n) => ({ ...n })), { orderBy: 'recordUri' });
}

/** Removes the notifications these records made (optionally only those of some reasons). */
export async function deleteNotifications(tx: SqlExecutor, recordUris: readonly string[], reasons?: readonly string[]): Promise<void> {
  if (recordUris.length === 0) return;
  await tx.query(
    `delete from notification where "recordUri" = any($1::text[])` +
      (reasons === undefined ? '' : ` and reason = any($2::text[])`),
    reasons === undefined ? [recordUris] : [recordUris, reasons],
  );
}

/** The DID of an AT-URI's repo. */
export function didOf(uri: string): string {
  return uri.split('/')[2] ?? '';
}

/** The AppView's sortAt: the earlier of createdAt and indexedAt. */
export function sortAtOf(createdAt: string, indexedAt: string): string {
  return createdAt < indexedAt ? createdAt : indexedAt;
}
