// Writes accepted labels: the AppView's `label` table, one row per (src, uri, cid, val), `cid = ''` when the label has
// none, and beside it skytide's `label_version` (migration 0019), the same key with what was signed and the sortable
// keys the version order needs. A row is replaced only by a newer version of itself (version.ts), so the rows depend
// on the set of labels seen, never on their order or on duplicates. A negation is a row like any other (neg = true):
// nothing is ever deleted. In our queryLabels a negation with another cid than the label's takes the label down all
// the same, because what is in force is decided across cids when read (query.ts); an AppView reading `label` row by
// row skips only the negation's own row, and the label's row with the other cid stays in force there. `label` holds
// the AppView's columns only: the AppView hands every column of a row to its API answers. One statement per batch;
// rows are written in key order, so concurrent batches lock rows in one order and cannot deadlock.
import type { SqlExecutor } from '../ports.ts';
import { compareVersions, versionTerms, type LabelRow } from './version.ts';
import { checkRows } from '../sql-rows.ts';
import { appviewExp } from './instant.ts';

function keyOf(row: LabelRow): string {
  const l = row.label;
  return JSON.stringify([l.src, l.uri, l.cid ?? '', l.val]);
}

function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

/** The newest version of each (src, uri, cid, val) in `rows`: one statement may not touch a row twice. */
export function newestPerKey(rows: readonly LabelRow[]): LabelRow[] {
  const best = new Map<string, LabelRow>();
  for (const row of rows) {
    const key = keyOf(row);
    const seen = best.get(key);
    if (seen === undefined || compareVersions(row, seen) > 0) best.set(key, row);
  }
  return [...best.values()];
}

const NEWER = `(${versionTerms('excluded').join(', ')}) > (${versionTerms('label_version').join(', ')})`;

/** Upserts the rows; answers how many rows changed (a replay of what is stored changes none). */
export async function storeLabels(tx: SqlExecutor, rows: readonly LabelRow[]): Promise<number> {
  const newest = newestPerKey(rows);
  if (newest.length === 0) return 0;
  const payload = newest.map(({ label, ctsKey, expKey, signingKey }) => ({
    src: label.src,
    uri: label.uri,
    cid: label.cid ?? '',
    val: label.val,
    neg: label.neg === true,
    negSigned: label.neg !== undefined,
    cts: label.cts,
    // The AppView's column as the AppView can read it; the signed spelling beside it when that differs.
    exp: label.exp === undefined ? null : appviewExp(label.exp),
    labelExp: label.exp === undefined || appviewExp(label.exp) === label.exp ? null : label.exp,
    ver: label.ver ?? null,
    sig: label.sig === undefined ? null : toHex(label.sig),
    signingKey: signingKey ?? null,
    ctsKey,
    expKey: expKey ?? null,
  }));
  // The version is written first, only where it is newer (the row lock its upsert takes on each key serialises
  // concurrent batches, and the loser re-checks against the winner's row); the AppView's row follows from what it wrote.
  const changed = checkRows(await tx.query(
    `with v as (
       insert into label_version (src, uri, cid, val, neg, "negSigned", cts, exp, "labelExp", "labelVer", "labelSig", "signingKey", "ctsKey", "expKey")
       select src, uri, cid, val, neg, "negSigned", cts, exp, "labelExp", ver, decode(sig, 'hex'), "signingKey", "ctsKey", "expKey"
       from json_to_recordset($1::text::json) as x(src text, uri text, cid text, val text, neg boolean, "negSigned" boolean,
         cts text, exp text, "labelExp" text, ver integer, sig text, "signingKey" text, "ctsKey" text, "expKey" text)
       order by src, uri, cid, val
       on conflict (src, uri, cid, val) do update set neg = excluded.neg, "negSigned" = excluded."negSigned",
         cts = excluded.cts, exp = excluded.exp, "labelExp" = excluded."labelExp",
         "labelVer" = excluded."labelVer", "labelSig" = excluded."labelSig", "signingKey" = excluded."signingKey", "ctsKey" = excluded."ctsKey",
         "expKey" = excluded."expKey"
       where ${NEWER}
       returning src, uri, cid, val, neg, cts, exp)
     insert into label (src, uri, cid, val, neg, cts, exp)
     select src, uri, cid, val, neg, cts, exp from v order by src, uri, cid, val
     on conflict (src, uri, cid, val) do update set neg = excluded.neg, cts = excluded.cts, exp = excluded.exp
     returning src`,
    [JSON.stringify(payload)],
  ), { src: 'string' });
  return changed.length;
}
