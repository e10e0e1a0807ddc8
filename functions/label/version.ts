// Which of two labels is newer: the order that decides both the row kept per (src, uri, cid, val) and the label in
// force per (src, uri, val). The newest `cts` wins; at equal `cts` a negation wins (a retraction must not lose to
// the label it retracts); every remaining field breaks ties, so the order is total and replaying any set of labels,
// in any order, duplicates included, ends in the same rows. store.ts and query.ts say the same in SQL (VERSION_SQL):
// every compared value is ASCII or bytes, so JavaScript's string order and Postgres `collate "C"` agree.
import type { Label } from './label.ts';
import { instantKey } from './instant.ts';

/** A label as stored: what was received, plus the sortable keys of its datetimes and the key that verified it. */
export interface LabelRow {
  label: Label;
  ctsKey: string;
  expKey?: string;
  /** `did:key` of the #atproto_label key that verified `sig`; absent for a trusted source's unsigned label. */
  signingKey?: string;
}

export function toRow(label: Label, signingKey?: string): LabelRow {
  const row: LabelRow = { label, ctsKey: instantKey(label.cts) ?? '' };
  const expKey = label.exp === undefined ? undefined : instantKey(label.exp);
  if (expKey !== undefined) row.expKey = expKey;
  if (signingKey !== undefined) row.signingKey = signingKey;
  return row;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function cmpBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): number {
  const x = a ?? new Uint8Array();
  const y = b ?? new Uint8Array();
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

/** Positive when `a` is newer than `b`, negative when older, 0 for the same version. */
export function compareVersions(a: LabelRow, b: LabelRow): number {
  return (
    cmp(a.ctsKey, b.ctsKey) ||
    Number(a.label.neg === true) - Number(b.label.neg === true) ||
    cmp(a.label.cts, b.label.cts) ||
    cmp(a.label.cid ?? '', b.label.cid ?? '') ||
    cmp(a.expKey ?? '', b.expKey ?? '') ||
    cmpBytes(a.label.sig, b.label.sig) ||
    (a.label.ver ?? 0) - (b.label.ver ?? 0) ||
    // Only an unsigned label can differ in nothing else (a signature covers `neg`): one that names `neg` is newer.
    Number(a.label.neg !== undefined) - Number(b.label.neg !== undefined)
  );
}

/**
 * The same order over a row of the `label_version` table, as SQL terms for a row comparison (`(...) > (...)`) or an
 * ORDER BY (each descending). `t` is the table alias.
 */
export function versionTerms(t: string): string[] {
  return [
    `${t}."ctsKey"`,
    `${t}.neg`,
    `${t}.cts`,
    `${t}.cid`,
    `coalesce(${t}."expKey", '')`,
    `coalesce(${t}."labelSig", '\\x'::bytea)`,
    `coalesce(${t}."labelVer", 0)`,
    // A row from before migration 0011 reads as it was written: `neg` named only when true.
    `coalesce(${t}."negSigned", ${t}.neg)`,
  ];
}
