// What a statement's rows hold, checked where they enter a function. The Sql port returns rows of unknown values; a
// caller names each column it reads and its kind, and gets rows typed from that shape, or a SkytideError naming the
// column and what came back (a schema that drifted from the migrations, a statement that changed its columns) instead
// of a value of the wrong type travelling on.
import { SkytideError } from './errors.ts';
import type { SqlRow } from './ports.ts';

/** A column's kind: `?` admits NULL; `bytes` is a bytea; `json` is a json/jsonb value, whatever it holds. */
export type ColumnKind = 'string' | 'string?' | 'number' | 'number?' | 'boolean' | 'boolean?' | 'bytes?' | 'json';
export type RowShape = Readonly<Record<string, ColumnKind>>;

type ValueOf<K extends ColumnKind> = K extends 'string'
  ? string
  : K extends 'string?'
    ? string | null
    : K extends 'number'
      ? number
      : K extends 'number?'
        ? number | null
        : K extends 'boolean'
          ? boolean
          : K extends 'boolean?'
            ? boolean | null
            : K extends 'bytes?'
              ? Uint8Array | null
              : unknown;

export type RowOf<S extends RowShape> = { -readonly [C in keyof S]: ValueOf<S[C]> };

function fits(kind: ColumnKind, value: unknown): boolean {
  switch (kind) {
    case 'json':
      return value !== undefined;
    case 'bytes?':
      return value === null || value instanceof Uint8Array;
    case 'string':
    case 'number':
    case 'boolean':
      return typeof value === kind;
    default:
      // 'string?' and friends: the kind without its '?', or NULL.
      return value === null || typeof value === kind.slice(0, -1);
  }
}

/** The rows, typed by `shape`, after checking every named column of every row; other columns are left out of the type. */
export function checkRows<S extends RowShape>(rows: readonly SqlRow[], shape: S): RowOf<S>[] {
  const columns = Object.entries(shape);
  for (const row of rows) {
    for (const [column, kind] of columns) {
      const value = row[column];
      if (!fits(kind, value)) {
        throw new SkytideError('handler_error', `column ${column} is not ${kind}`, {
          column,
          expected: kind,
          got: value === null ? 'null' : typeof value,
          columns: Object.keys(row),
        });
      }
    }
  }
  return rows as RowOf<S>[];
}

/** The first row (checked as checkRows checks), or undefined when there is none. */
export function checkFirstRow<S extends RowShape>(rows: readonly SqlRow[], shape: S): RowOf<S> | undefined {
  return rows.length === 0 ? undefined : checkRows(rows.slice(0, 1), shape)[0];
}
