// A plugin for a record type that is one row in one table keyed by uri, with no counts: lists, list items, list
// blocks, feed generators, starter packs, labeler services, verifications, reference-list opt-outs. Each record
// type's file says how its row looks; this writes and removes it.
import { deleteRows, insertRows, type Columns, type Row } from '../rows.ts';
import { rowsOf } from './shapes.ts';
import type { IndexedRecord, Plugin, RecordFamily } from './types.ts';

export interface TableSpec {
  collection: string;
  family: RecordFamily;
  table: string;
  columns: Columns;
  /** The row of a record, or undefined when the record lacks the shape the AppView requires. */
  row(r: IndexedRecord): Row | undefined;
  /** The columns naming the subject when the table has one row per subject (plugins/types.ts: UniqueSubject). */
  unique?: readonly string[];
}

export function tablePlugin(spec: TableSpec): Plugin {
  // With one row per subject, a conflict on the subject is a duplicate (duplicates.ts), not an error.
  const onConflict = spec.unique === undefined ? '(uri) do nothing' : 'do nothing';
  return {
    collection: spec.collection,
    family: spec.family,
    ...(spec.unique === undefined ? {} : {
      unique: {
        table: spec.table,
        columns: spec.unique,
        tables: [{ table: spec.table, columns: spec.columns, key: 'uri', onConflict }],
        rows: (r: IndexedRecord) => {
          const row = spec.row(r);
          return row === undefined ? undefined : { [spec.table]: [row] };
        },
      },
    }),
    async insert(tx, records) {
      const { rows, invalid } = rowsOf(records, spec.row);
      await insertRows(tx, spec.table, spec.columns, rows, { orderBy: 'uri', onConflict });
      return invalid;
    },
    async remove(tx, uris) {
      await deleteRows(tx, spec.table, 'uri', uris);
    },
  };
}
