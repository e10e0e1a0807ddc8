// app.bsky.graph.block -> actor_block. No aggregates.
import { SUBJECT_DID_COLUMNS, subjectDidRow } from './shapes.ts';
import type { RowPlugin } from './types.ts';

export const blockPlugin: RowPlugin = {
  collection: 'app.bsky.graph.block',
  family: 'block',
  tables: [{ table: 'actor_block', columns: SUBJECT_DID_COLUMNS, key: 'uri', onConflict: '(uri) do nothing' }],
  rows(r) {
    const row = subjectDidRow(r);
    return row === undefined ? undefined : { actor_block: [row] };
  },
};
