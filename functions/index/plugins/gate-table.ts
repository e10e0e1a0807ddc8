// The rows of a thread gate or post gate (one gate per post: same repo, same rkey) and the post flag that says it
// exists (hasThreadGate / hasPostGate: true while the gate is indexed, false after it is removed, as the AppView
// sets them). The verdicts on replies and quotes come from the gate's history (../gates.ts), fed by `versions`.
import type { SqlExecutor } from '../../ports.ts';
import { deleteRows, insertRows } from '../rows.ts';
import { gatedPost, gateMatchesPost, rejudgeQuotes, rejudgeThreads, writeGateVersions, type GateKind } from '../gates.ts';
import { postsLeftUngated } from '../gate-flags.ts';
import { createdAt } from './fields.ts';
import { rowsOf } from './shapes.ts';
import type { CountedOp, Plugin, RecordFamily } from './types.ts';
import type { MembershipHistory } from '../memberships-at.ts';
import type { AggregateDeltas } from '../aggregates.ts';
import { checkRows } from '../../sql-rows.ts';

const COLUMNS = { uri: 'text', cid: 'text', creator: 'text', postUri: 'text', createdAt: 'text', indexedAt: 'text' } as const;

async function setHasGate(tx: SqlExecutor, flag: 'hasThreadGate' | 'hasPostGate', posts: readonly string[], value: boolean): Promise<void> {
  if (posts.length === 0) return;
  await tx.query(
    `update post set "${flag}" = $2 where uri = any($1::text[])`,
    [[...posts].sort(), value],
  );
}

export function gatePlugin(o: { collection: string; family: RecordFamily; table: string; kind: GateKind; flag: 'hasThreadGate' | 'hasPostGate' }): Plugin {
  /** Writes the versions into the gate's history and judges again the replies or quotes whose gate in force changed. */
  const addToHistory = async (tx: SqlExecutor, ops: readonly CountedOp[], deltas: AggregateDeltas, memberships?: MembershipHistory): Promise<void> => {
    const changed = await writeGateVersions(tx, o.kind, ops);
    if (o.kind !== 'thread') return rejudgeQuotes(tx, changed);
    // Stored replies are judged again by the follows and list items as they stood at the op that wrote their gate in
    // force, those of the batch before it included, as one event at a time judges them (gates.ts, decidedAt).
    await rejudgeThreads(tx, changed, deltas, memberships);
  };
  return {
    collection: o.collection,
    family: o.family,
    relatedUri: gatedPost,
    async versions(tx, ops, deltas, before, postOps, memberships) {
      await addToHistory(tx, ops, deltas, memberships);
      // A removal the batch's last ops do not show (a gate made and deleted in it, or the post made before the
      // deletion) still leaves the flag false, once the post's row is written.
      const cleared = await postsLeftUngated(tx, ops, postOps, before);
      if (cleared.length > 0) return (after) => setHasGate(after, o.flag, cleared, false);
    },
    async pastVersions(tx, ops, deltas) {
      // A delete older than the snapshot reaches `versions` too (it goes through the rev rule).
      await addToHistory(tx, ops.filter((op) => op.event.type !== 'delete'), deltas);
    },
    async insert(tx, records) {
      const { rows, invalid } = rowsOf(records, (r) => {
        if (!gateMatchesPost(r.uri, r.record)) return undefined;
        return { uri: r.uri, cid: r.cid, creator: r.did, postUri: gatedPost(r.uri) as string, createdAt: createdAt(r.record['createdAt']), indexedAt: r.indexedAt };
      });
      const fresh = checkRows(await insertRows(tx, o.table, COLUMNS, rows, { orderBy: 'uri', onConflict: '(uri) do nothing', returning: ['postUri'] }), { postUri: 'string' });
      await setHasGate(tx, o.flag, fresh.map((r) => r.postUri), true);
      return invalid;
    },
    async remove(tx, uris) {
      const gone = checkRows(await deleteRows(tx, o.table, 'uri', uris, ['postUri']), { postUri: 'string' });
      await setHasGate(tx, o.flag, gone.map((r) => r.postUri), false);
    },
  };
}
