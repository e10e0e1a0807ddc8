// app.bsky.graph.block -> actor_block. No aggregates. One row per blocker and blocked account (the AppView's
// actor_block_unique_subject).
import { SUBJECT_DID_COLUMNS, subjectDidRow } from './shapes.ts';
import type { RowPlugin, TableSpec } from './types.ts';

const tables: readonly TableSpec[] = [{ table: 'actor_block', columns: SUBJECT_DID_COLUMNS, key: 'uri', onConflict: 'do nothing' }];

const rows: RowPlugin['rows'] = (r) => {
  const row = subjectDidRow(r);
  return row === undefined ? undefined : { actor_block: [row] };
};

export const blockPlugin: RowPlugin = {
  collection: 'app.bsky.graph.block',
  family: 'block',
  tables,
  rows,
  unique: { table: 'actor_block', columns: ['creator', 'subjectDid'], tables, rows },
};
