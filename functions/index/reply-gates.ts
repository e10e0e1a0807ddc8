// Which thread-gate version each gated reply was judged under (`reply_gate`, migration 0021). The AppView judges a
// reply once, as it indexes it, by the follows and list items of that moment; a gate's edit (hiding a reply writes a
// new version) or a replay changes no verdict there. skytide judges replies again where the gate in force for them may
// have changed (gates.ts, `rejudgeReplies`), and passes over those still under the gate they were judged by.
// A reply judged under no gate in force has no row (migration 0021 wrote '' for those it found: read alike).
import type { SqlExecutor } from '../ports.ts';

/** A reply and the CID of the thread gate it is judged under: gates.ts, `gateUnder` (none in force: no row). */
export interface JudgedUnder {
  uri: string;
  cid: string;
}

/** Notes the gate each of these replies is judged under (gates.ts gives only those under a root with a gate history). */
export async function noteGatesUnder(tx: SqlExecutor, judged: readonly JudgedUnder[]): Promise<void> {
  if (judged.length === 0) return;
  const sorted = [...judged].sort((a, b) => (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0));
  await tx.query(
    `insert into reply_gate (uri, did, "gateCid") select uri, split_part(uri, '/', 3), cid from unnest($1::text[], $2::text[]) as r(uri, cid)
     on conflict (uri) do update set "gateCid" = excluded."gateCid" where reply_gate."gateCid" <> excluded."gateCid"`,
    [sorted.map((r) => r.uri), sorted.map((r) => r.cid)],
  );
}

/** Forgets the gates these replies were judged under (their root has no gate history now). */
export async function forgetGatesUnder(tx: SqlExecutor, uris: readonly string[]): Promise<void> {
  if (uris.length === 0) return;
  await tx.query(`delete from reply_gate where uri = any($1::text[])`, [uris]);
}
