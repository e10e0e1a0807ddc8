// The consumers' dependency probe: a Postgres that answers `select 1` but refuses writes (a standby, the pool still on
// a demoted primary after a failover, default_transaction_read_only during maintenance) is down for a consumer,
// whose every batch writes. A probe that only reads would pass and let the batch's entries count deliveries toward
// the DLQ; this one fails, so the batch waits.
// A table another session holds locked (ALTER TABLE, VACUUM FULL, CREATE INDEX, a pg_repack swap) fails the probe
// too: the batch's statements wait on the lock and, under an operator's statement_timeout, are cancelled one entry at
// a time as if each were at fault, so every entry walked to the DLQ during maintenance. The probe asks for the lock
// the index's writes take on every table of the schema, waiting PROBE_LOCK_TIMEOUT_MS at most (55P03: contention, an
// outage), and lets it go at once.
import type { Sql } from '../../functions/ports.ts';
import { DependencyError } from '../../functions/errors.ts';

/** How long the probe waits for the write lock on the index's tables before calling it an outage. */
export const PROBE_LOCK_TIMEOUT_MS = 500;

export async function probeWritablePostgres(sql: Sql): Promise<void> {
  const [row] = await sql.query(`select pg_is_in_recovery() as recovery, current_setting('transaction_read_only') as read_only`);
  const recovery = row?.['recovery'] === true;
  const readOnly = row?.['read_only'] === 'on';
  if (recovery || readOnly) {
    throw new DependencyError('postgres', `postgres refuses writes: ${recovery ? 'in recovery (a standby)' : 'the session is read-only'}`, { recovery, readOnly });
  }
  await sql.transaction(async (tx) => {
    await tx.query(`select set_config('lock_timeout', $1, true)`, [`${PROBE_LOCK_TIMEOUT_MS}ms`]);
    const tables = await tx.query(`select format('%I.%I', schemaname, tablename) as name from pg_tables where schemaname = current_schema()`);
    const names = tables.map((t) => String(t['name']));
    if (names.length > 0) await tx.query(`lock table ${names.join(', ')} in row exclusive mode`);
  });
}
