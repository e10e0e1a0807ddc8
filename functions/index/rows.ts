// Multi-row statements over the Sql port. A batch travels as ONE jsonb parameter expanded by jsonb_to_recordset: one
// round trip per table per batch, null-safe, and free of per-row placeholders.
import type { SqlExecutor, SqlRow } from '../ports.ts';
import type { JsonValue } from '../events.ts';

export type ColumnType = 'text' | 'jsonb' | 'boolean' | 'bigint';
export type Columns = Record<string, ColumnType>;
/** One row as JSON: a jsonb column takes any JSON value (arrays of strings, or objects such as an account history). */
export type Row = Record<string, JsonValue | readonly string[]>;

const q = (name: string) => `"${name.replaceAll('"', '""')}"`;
/** A column name, quoted, or an expression with an alias (`(xmax = 0) as inserted`) passed through. */
const column = (name: string) => (name.includes(' as ') ? name : q(name));

/** Strings bound for text or jsonb columns: Postgres rejects NUL and lone surrogates, the network sends both. */
export function cleanText(value: string): string {
  return value.replaceAll('\u0000', '').toWellFormed();
}

function recordset(columns: Columns): string {
  return Object.entries(columns)
    .map(([name, type]) => `${q(name)} ${type}`)
    .join(', ');
}

export interface InsertOptions {
  /** Sort key: rows are written in this order so concurrent batches take row locks in one order (no deadlocks). */
  orderBy: string;
  onConflict?: string;
  returning?: readonly string[];
}

export async function insertRows<R extends SqlRow = SqlRow>(
  tx: SqlExecutor,
  table: string,
  columns: Columns,
  rows: readonly Row[],
  options: InsertOptions,
): Promise<R[]> {
  if (rows.length === 0) return [];
  const names = Object.keys(columns).map(q).join(', ');
  const text =
    `insert into ${q(table)} (${names}) select ${names} from json_to_recordset($1::text::json) as x(${recordset(columns)})` +
    ` order by ${q(options.orderBy)}` +
    (options.onConflict === undefined ? '' : ` on conflict ${options.onConflict}`) +
    (options.returning === undefined ? '' : ` returning ${options.returning.map(column).join(', ')}`);
  return tx.query<R>(text, [JSON.stringify(rows)]);
}

/** Deletes rows whose `column` is one of `keys`, returning the named columns of the rows actually deleted. */
export async function deleteRows<R extends SqlRow = SqlRow>(
  tx: SqlExecutor,
  table: string,
  column: string,
  keys: readonly string[],
  returning: readonly string[] = [],
): Promise<R[]> {
  if (keys.length === 0) return [];
  const text =
    `delete from ${q(table)} where ${q(column)} = any($1::text[])` +
    (returning.length === 0 ? '' : ` returning ${returning.map(q).join(', ')}`);
  return tx.query<R>(text, [keys]);
}
