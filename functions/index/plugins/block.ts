// app.bsky.graph.block -> actor_block. No aggregates.
import { deleteRows, insertRows } from '../rows.ts';
import { rowsOf, SUBJECT_DID_COLUMNS, subjectDidRow } from './shapes.ts';
import type { Plugin } from './types.ts';

export const blockPlugin: Plugin = {
  collection: 'app.bsky.graph.block',
  family: 'block',
  async insert(tx, records) {
    const { rows, invalid } = rowsOf(records, subjectDidRow);
    await insertRows(tx, 'actor_block', SUBJECT_DID_COLUMNS, rows, { orderBy: 'uri', onConflict: '(uri) do nothing' });
    return invalid;
  },
  async remove(tx, uris) {
    await deleteRows(tx, 'actor_block', 'uri', uris);
  },
};
