// app.bsky.graph.block -> actor_block. No aggregates.
import { deleteRows, insertRows } from '../rows.ts';
import { createdAt, did } from './fields.ts';
import type { Plugin } from './types.ts';

const COLUMNS = { uri: 'text', cid: 'text', creator: 'text', subjectDid: 'text', createdAt: 'text', indexedAt: 'text' } as const;

export const blockPlugin: Plugin = {
  collection: 'app.bsky.graph.block',
  family: 'block',
  async insert(tx, records) {
    const invalid: string[] = [];
    const rows = [];
    for (const r of records) {
      const subject = did(r.record['subject']);
      if (subject === undefined) {
        invalid.push(r.uri);
        continue;
      }
      rows.push({ uri: r.uri, cid: r.cid, creator: r.did, subjectDid: subject, createdAt: createdAt(r.record['createdAt']), indexedAt: r.indexedAt });
    }
    await insertRows(tx, 'actor_block', COLUMNS, rows, { orderBy: 'uri', onConflict: '(uri) do nothing' });
    return invalid;
  },
  async remove(tx, uris) {
    await deleteRows(tx, 'actor_block', 'uri', uris);
  },
};
