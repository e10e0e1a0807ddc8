// A plugin for a record type that is one row in one table keyed by uri, with no counts: lists, list items, list
// blocks, feed generators, starter packs, labeler services, verifications, reference-list opt-outs. Each record
// type's file says how its row looks; this writes and removes it.
import type { SqlExecutor } from '../../ports.ts';
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
  /** Runs after the rows are written, with the rows this batch really inserted (notifications, flags). */
  inserted?(tx: SqlExecutor, rows: readonly Row[]): Promise<void>;
  /** Runs after rows are removed, with the removed rows' columns. */
  removed?(tx: SqlExecutor, rows: readonly Row[]): Promise<void>;
}

export function tablePlugin(spec: TableSpec): Plugin {
  const names = Object.keys(spec.columns);
  return {
    collection: spec.collection,
    family: spec.family,
    async insert(tx, records) {
      const { rows, invalid } = rowsOf(records, spec.row);
      const fresh = await insertRows<Row>(tx, spec.table, spec.columns, rows, {
        orderBy: 'uri', onConflict: '(uri) do nothing', ...(spec.inserted === undefined ? {} : { returning: names }),
      });
      if (spec.inserted !== undefined && fresh.length > 0) await spec.inserted(tx, fresh);
      return invalid;
    },
    async remove(tx, uris) {
      const gone = await deleteRows<Row>(tx, spec.table, 'uri', uris, spec.removed === undefined ? [] : names);
      if (spec.removed !== undefined && gone.length > 0) await spec.removed(tx, gone);
    },
  };
}
