// Row shapes several record types share: a strong ref to a subject post (like, repost) or a subject DID (follow,
// block), and the split of a batch into rows and the URIs whose records lack the shape.
import type { Row } from '../rows.ts';
import { createdAt, did, strongRef } from './fields.ts';
import type { IndexedRecord, JsonObject, TableSpec } from './types.ts';
import { didOf, NOTIFICATION_COLUMNS, sortAtOf, type Notification } from '../notifications.ts';

/** For statement plugins (plugins/types.ts): a batch split into rows and the URIs whose records lack the shape. */
export function rowsOf<R>(records: readonly IndexedRecord[], toRow: (r: IndexedRecord) => R | undefined): { rows: R[]; invalid: string[] } {
  const rows: R[] = [];
  const invalid: string[] = [];
  for (const r of records) {
    const row = toRow(r);
    if (row === undefined) invalid.push(r.uri);
    else rows.push(row);
  }
  return { rows, invalid };
}

/** feed_item: a post's own item, or a repost's (both plugins write it). */
export const FEED_ITEM_COLUMNS = { uri: 'text', cid: 'text', type: 'text', postUri: 'text', originatorDid: 'text', sortAt: 'text' } as const;
export const FEED_ITEM_TABLE: TableSpec = { table: 'feed_item', columns: FEED_ITEM_COLUMNS, key: 'uri', onConflict: '(uri) do nothing', dependent: true };

/**
 * notification, as the row plugins that notify (like, repost) write it: dependent, so only a record whose main row
 * this batch inserted notifies (as `insertRows ... returning` did); removed with the record, but only the reasons
 * these record types make (other record types' notifications share the key column and are their plugins' own).
 * A plain insert, as every other notification writer does: its only unique key is the serial id, so nothing can
 * conflict, and ON CONFLICT's speculative insertion cost a third more per row (1,000 rows into a 50,000-row table:
 * 17.6 to 24.7 ms with it, 14.0 to 15.5 without).
 */
export const NOTIFICATION_TABLE: TableSpec = {
  table: 'notification', columns: NOTIFICATION_COLUMNS, key: 'recordUri', dependent: true,
  removeOnly: `reason in ('like', 'repost', 'like-via-repost', 'repost-via-repost')`,
  // An update of the same post keeps them all (a new via too): the AppView's notifsForDelete(deleted, replacedBy).
  kept: true,
};

/** like / repost: the post a record names, while which an update keeps its notifications (kept-notifications.ts). */
export const subjectRefUri = (record: JsonObject): string | undefined => strongRef(record['subject'])?.uri;

export const SUBJECT_REF_COLUMNS = {
  uri: 'text', cid: 'text', creator: 'text', subject: 'text', subjectCid: 'text',
  via: 'text', viaCid: 'text', createdAt: 'text', indexedAt: 'text',
} as const;

/** like / repost: `subject` is a strong ref to a post, `via` an optional strong ref to the repost it came through. */
export function subjectRefRow(r: IndexedRecord): (Row & { subject: string; createdAt: string }) | undefined {
  const subject = strongRef(r.record['subject']);
  if (subject === undefined) return undefined;
  const via = strongRef(r.record['via']);
  return {
    uri: r.uri, cid: r.cid, creator: r.did, subject: subject.uri, subjectCid: subject.cid,
    via: via?.uri ?? null, viaCid: via?.cid ?? null, createdAt: createdAt(r.record['createdAt']), indexedAt: r.indexedAt,
  };
}

export const SUBJECT_DID_COLUMNS = { uri: 'text', cid: 'text', creator: 'text', subjectDid: 'text', createdAt: 'text', indexedAt: 'text' } as const;

/** follow / block: `subject` is a DID. */
export function subjectDidRow(r: IndexedRecord): Row | undefined {
  const subject = did(r.record['subject']);
  if (subject === undefined) return undefined;
  return { uri: r.uri, cid: r.cid, creator: r.did, subjectDid: subject, createdAt: createdAt(r.record['createdAt']), indexedAt: r.indexedAt };
}

/** The columns of an inserted like or repost its notifications need. */
export type SubjectRefRow = {
  uri: string;
  cid: string;
  creator: string;
  subject: string;
  via: string | null;
  createdAt: string;
  indexedAt: string;
};
export const SUBJECT_REF_RETURNING = ['uri', 'cid', 'creator', 'subject', 'via', 'createdAt', 'indexedAt'] as const;

/**
 * A like or repost notifies the subject's author, and the author of the repost it came through (`via`) with
 * like-via-repost / repost-via-repost; never the actor itself, and nothing at all for one of its own records.
 */
export function subjectRefNotifications(rows: readonly SubjectRefRow[], reason: 'like' | 'repost'): Notification[] {
  const out: Notification[] = [];
  for (const r of rows) {
    const author = didOf(r.subject);
    if (author === r.creator) continue;
    const base = { recordUri: r.uri, recordCid: r.cid, author: r.creator, sortAt: sortAtOf(r.createdAt, r.indexedAt) };
    out.push({ ...base, did: author, reason, reasonSubject: r.subject });
    if (r.via !== null && didOf(r.via) !== r.creator) out.push({ ...base, did: didOf(r.via), reason: `${reason}-via-repost`, reasonSubject: r.via });
  }
  return out;
}

/** The notifications of one like or repost row (subjectRefRow's), as rows of NOTIFICATION_TABLE. */
export function subjectRefNotificationRows(row: Row & { subject: string; createdAt: string }, reason: 'like' | 'repost'): Row[] {
  const ref: SubjectRefRow = {
    uri: row['uri'] as string, cid: row['cid'] as string, creator: row['creator'] as string, subject: row.subject,
    via: (row['via'] as string | null) ?? null, createdAt: row.createdAt, indexedAt: row['indexedAt'] as string,
  };
  return subjectRefNotifications([ref], reason).map((n) => ({ ...n }));
}
