// Server settings the index's statements rely on, read once when a process that writes the index starts. The index
// reads keys by lists (`= any($1::text[])`); with no planner statistics Postgres takes default selectivities and reads
// a list of a few hundred keys on a column that is not unique as a large share of the table. The statements that
// planned whole-table reads that way (258 against 53 µs of Postgres CPU per record in the network backfill) now look
// each key up on their own, but the rest still count on statistics (README, Performance).
import type { SqlExecutor } from '../../functions/ports.ts';
import { checkRows } from '../../functions/sql-rows.ts';

/** What is set otherwise than the index needs, one sentence each; empty when nothing is. */
export async function serverSettingProblems(sql: SqlExecutor): Promise<string[]> {
  const rows = checkRows(await sql.query(`select name, setting from pg_settings where name in ('autovacuum', 'track_counts')`), { name: 'string', setting: 'string' });
  const setting = new Map(rows.map((r) => [r.name, r.setting]));
  const problems: string[] = [];
  if (setting.get('autovacuum') === 'off' || setting.get('track_counts') === 'off') {
    problems.push('autovacuum is off: the index\'s plans count on planner statistics; turn it on, or ANALYZE the index tables as they grow');
  }
  return problems;
}
