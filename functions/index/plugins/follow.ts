// app.bsky.graph.follow -> follow; profile_agg.followersCount of the subject and followsCount of the creator.
import { deleteRows, insertRows } from '../rows.ts';
import { createdAt, did } from './fields.ts';
import type { Plugin } from './types.ts';

const COLUMNS = { uri: 'text', cid: 'text', creator: 'text', subjectDid: 'text', createdAt: 'text', indexedAt: 'text' } as const;

export const followPlugin: Plugin = {
  collection: 'app.bsky.graph.follow',
  family: 'follow',
  async insert(tx, records, deltas) {
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
    const inserted = await insertRows<{ creator: string; subjectDid: string }>(tx, 'follow', COLUMNS, rows, {
      orderBy: 'uri', onConflict: '(uri) do nothing', returning: ['creator', 'subjectDid'],
    });
    for (const row of inserted) {
      deltas.profile(row.subjectDid, 'followersCount', 1);
      deltas.profile(row.creator, 'followsCount', 1);
    }
    return invalid;
  },
  async remove(tx, uris, deltas) {
    const removed = await deleteRows<{ creator: string; subjectDid: string }>(tx, 'follow', 'uri', uris, ['creator', 'subjectDid']);
    for (const row of removed) {
      deltas.profile(row.subjectDid, 'followersCount', -1);
      deltas.profile(row.creator, 'followsCount', -1);
    }
  },
};
