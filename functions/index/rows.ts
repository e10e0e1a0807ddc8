// Multi-row statements over the Sql port. A batch's rows for a table travel as ONE text parameter (rowSource): one
// round trip per table per batch, null-safe, and free of per-row placeholders.
import type { SqlExecutor, SqlRow, SqlValue } from '../ports.ts';
import type { JsonValue } from '../events.ts';

export type ColumnType = 'text' | 'jsonb' | 'boolean' | 'bigint';
export type Columns = Record<string, ColumnType>;
/** One row as JSON: a jsonb column takes any JSON value (arrays of strings, or objects such as an account history). */
export type Row = Record<string, JsonValue | readonly string[]>;

/** A quoted SQL identifier. */
export const q = (name: string) => `"${name.replaceAll('"', '""')}"`;
/** A column name, quoted, or an expression with an alias (`(xmax = 0) as inserted`) passed through. */
const column = (name: string) => (name.includes(' as ') ? name : q(name));

/** Strings bound for text or jsonb columns: Postgres rejects NUL and lone surrogates, the network sends both. */
export function cleanText(value: string): string {
  // Nearly every string is already clean: it is returned as it is, without the two copies the cleaning makes.
  if (!value.includes('\u0000') && value.isWellFormed()) return value;
  return value.replaceAll('\u0000', '').toWellFormed();
}

function recordset(columns: Columns): string {
  return Object.entries(columns)
    .map(([name, type]) => `${q(name)} ${type}`)
    .join(', ');
}

// The text transport: a row per line, split by Postgres's string_to_array. ASCII's record, unit and group separators
// mark rows, fields and NULL; a set with any of them in a value travels as JSON instead (json_to_recordset), so every
// value arrives exactly. Why not JSON for all: json_to_recordset builds a hash table per object and re-reads every
// key name, and was measured at 3x the server time of this for the same 2,000 rows of 7 columns (10 ms against 3 ms),
// the largest part of the index's Postgres time spent on the transport, not the rows.
const ROW_SEPARATOR = '\x1e';
const FIELD_SEPARATOR = '\x1f';
const NULL_MARK = '\x1d';

/** A value as text before cleaning (JSON for objects), or null. */
function rawText(value: Row[string] | undefined): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/** A value as text, the same for this transport and COPY (NUL and lone surrogates cleaned, JSON for objects). */
export function textValue(value: Row[string] | undefined): string | null {
  if (typeof value === 'string') return cleanText(value);
  // JSON.stringify writes NUL and lone surrogates as escapes: its text is clean already, and not scanned again (a
  // record's JSON is the longest value of a batch).
  return rawText(value);
}

/** How many of the transport's separators `text` holds. */
function separatorsIn(text: string): number {
  let found = 0;
  for (const separator of [ROW_SEPARATOR, FIELD_SEPARATOR, NULL_MARK]) {
    for (let at = text.indexOf(separator); at !== -1; at = text.indexOf(separator, at + 1)) found++;
  }
  return found;
}

/**
 * A FROM item aliased `x` yielding `rows` as `columns` (by name, with their types), its data added to `params` as one
 * parameter.
 */
/**
 * The most characters a statement's parameters may carry (at most 3 bytes of UTF-8 each: 768 MB). Postgres refuses a
 * message over 1 GB by closing the connection, which reads as an outage: the same batch was waited out and sent again
 * for ever, its lane stopped (about 1,000 records near the 1 MiB limit, in a collection no lexicon bounds).
 */
export const MAX_STATEMENT_PARAM_CHARS = 256 * 1024 * 1024;

/**
 * A batch whose rows would make a statement Postgres refuses: not an outage and no event's defect, so it is thrown
 * as a plain failure, and the consumer's bisection indexes it in halves.
 */
export class RowSetTooLargeError extends Error {
  constructor(chars: number, max: number) {
    super(`a statement's row sets hold ${chars} characters, over ${max}: the batch is too large to send as parameters`);
    this.name = 'RowSetTooLargeError';
  }
}

/** Throws RowSetTooLargeError when the statement's string parameters hold more than `max` characters. */
export function checkParamSize(params: readonly SqlValue[], max = MAX_STATEMENT_PARAM_CHARS): void {
  let chars = 0;
  for (const p of params) if (typeof p === 'string') chars += p.length;
  if (chars > max) throw new RowSetTooLargeError(chars, max);
}

export function rowSource(columns: Columns, rows: readonly Row[], params: SqlValue[]): string {
  const entries = Object.entries(columns);
  const names = entries.map(([name]) => name);
  // The set is joined first and checked once, not value by value (a regex and two scans per value were a tenth of
  // Node's time in the index): the text must hold exactly the separators put there, and the cleaning of NUL and lone
  // surrogates gives the same text on the whole as on each value, since separators stand between values.
  const lines: string[] = new Array<string>(rows.length);
  let marks = 0;
  let emptyLine = false;
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r] as Row;
    let line = '';
    for (let i = 0; i < names.length; i++) {
      let text = rawText(row[names[i] as string]);
      if (text === null) {
        text = NULL_MARK;
        marks++;
      }
      line = i === 0 ? text : line + FIELD_SEPARATOR + text;
    }
    // An empty line would be no row at all: only a one-column set with an empty value can make one.
    if (line === '') emptyLine = true;
    lines[r] = line;
  }
  const joined = lines.join(ROW_SEPARATOR);
  const expected = marks + rows.length * (names.length - 1) + Math.max(0, rows.length - 1);
  if (emptyLine || separatorsIn(joined) !== expected) {
    // Strings cleaned as textValue cleans them, wherever they sit, so both ways of sending give the same values.
    params.push(JSON.stringify(rows, (_, value: unknown) => (typeof value === 'string' ? cleanText(value) : value)));
    checkParamSize(params);
    return `json_to_recordset($${params.length}::text::json) as x(${recordset(columns)})`;
  }
  params.push(cleanText(joined));
  checkParamSize(params);
  const select = entries.map(([name, type], i) => `a[${i + 1}]::${type} as ${q(name)}`).join(', ');
  // NOTE: E'\x1e' and friends are the separators above, written as SQL escape strings. `offset 0` keeps the planner
  // from inlining the split into every field that reads it (a split per field instead of one per row).
  return `(select ${select} from (select string_to_array(line, E'\\x1f', E'\\x1d') as a ` +
    `from string_to_table($${params.length}::text, E'\\x1e') as line offset 0) as lines) as x`;
}

export interface InsertOptions {
  /** Sort key: rows are written in this order so concurrent batches take row locks in one order (no deadlocks). */
  orderBy: string;
  onConflict?: string;
  returning?: readonly string[];
}

/** One table's rows to insert, and how (insertRows, insertTables). */
export interface TableInsert extends InsertOptions {
  table: string;
  columns: Columns;
  rows: readonly Row[];
}

/**
 * The INSERT ... SELECT of one table's rows (their data added to `params`), on its own or as a data-modifying CTE
 * (insertTables, and the follow plugin's insert that its notifications select from).
 */
export function insertStatement(w: TableInsert, params: SqlValue[]): string {
  const names = Object.keys(w.columns).map(q).join(', ');
  return `insert into ${q(w.table)} (${names}) select ${names} from ${rowSource(w.columns, w.rows, params)}` +
    ` order by ${q(w.orderBy)}` +
    (w.onConflict === undefined ? '' : ` on conflict ${w.onConflict}`) +
    (w.returning === undefined ? '' : ` returning ${w.returning.map(column).join(', ')}`);
}

export async function insertRows(
  tx: SqlExecutor,
  table: string,
  columns: Columns,
  rows: readonly Row[],
  options: InsertOptions,
): Promise<SqlRow[]> {
  if (rows.length === 0) return [];
  const params: SqlValue[] = [];
  return tx.query(insertStatement({ table, columns, rows, ...options }, params), params);
}

/** One table's rows to delete by key (deleteRows, deleteFromTables): those whose `column` is one of the keys in `$1`. */
export interface TableDelete {
  table: string;
  column: string;
  returning?: readonly string[];
}

/** The DELETE of one table's rows whose key column is in the text[] parameter $1, on its own or as a CTE. */
export function deleteStatement(t: TableDelete): string {
  return `delete from ${q(t.table)} where ${q(t.column)} = any($1::text[])` +
    (t.returning === undefined || t.returning.length === 0 ? '' : ` returning ${t.returning.map(q).join(', ')}`);
}

/** Deletes rows whose `column` is one of `keys`, returning the named columns of the rows actually deleted. */
export async function deleteRows(
  tx: SqlExecutor,
  table: string,
  column: string,
  keys: readonly string[],
  returning: readonly string[] = [],
): Promise<SqlRow[]> {
  if (keys.length === 0) return [];
  return tx.query(deleteStatement({ table, column, returning }), [keys]);
}

/**
 * Inserts into several tables in ONE statement, a data-modifying CTE each, in the order given (so concurrent batches
 * take row locks in one order); returns the rows the one write with `returning` gave back (at most one may ask).
 * Tables without rows are left out. One round trip and one plan instead of one per table.
 */
export async function insertTables(tx: SqlExecutor, writes: readonly TableInsert[]): Promise<SqlRow[]> {
  const present = writes.filter((w) => w.rows.length > 0);
  if (present.length === 0) return [];
  if (present.filter((w) => w.returning !== undefined).length > 1) throw new Error('insertTables: at most one write may return rows');
  const params: SqlValue[] = [];
  let back = 'select null where false';
  const ctes = present.map((w, i) => {
    if (w.returning !== undefined) back = `select * from w${i}`;
    return `w${i} as (${insertStatement(w, params)})`;
  });
  return tx.query(`with ${ctes.join(', ')} ${back}`, params);
}

/**
 * Deletes the rows whose key column is one of `keys` from several tables in ONE statement, in the order given;
 * returns the rows the one table with `returning` deleted (at most one may ask).
 */
export async function deleteFromTables(
  tx: SqlExecutor,
  tables: readonly TableDelete[],
  keys: readonly string[],
): Promise<SqlRow[]> {
  if (keys.length === 0 || tables.length === 0) return [];
  if (tables.filter((t) => t.returning !== undefined).length > 1) throw new Error('deleteFromTables: at most one table may return rows');
  let back = 'select null where false';
  const ctes = tables.map((t, i) => {
    if (t.returning !== undefined) back = `select * from d${i}`;
    return `d${i} as (${deleteStatement(t)})`;
  });
  return tx.query(`with ${ctes.join(', ')} ${back}`, [keys]);
}
