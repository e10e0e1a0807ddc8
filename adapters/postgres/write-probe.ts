// The consumers' dependency probe: a Postgres that answers `select 1` but refuses writes (a standby, the pool still on
// a demoted primary after a failover, default_transaction_read_only during maintenance) is down for a consumer,
// whose every batch writes. A probe that only reads would pass and let the batch's entries count deliveries toward
// the DLQ; this one fails, so the batch waits.
import type { SqlExecutor } from '../../functions/ports.ts';
import { DependencyError } from '../../functions/errors.ts';

export async function probeWritablePostgres(sql: SqlExecutor): Promise<void> {
  const [row] = await sql.query(`select pg_is_in_recovery() as recovery, current_setting('transaction_read_only') as read_only`);
  const recovery = row?.['recovery'] === true;
  const readOnly = row?.['read_only'] === 'on';
  if (recovery || readOnly) {
    throw new DependencyError('postgres', `postgres refuses writes: ${recovery ? 'in recovery (a standby)' : 'the session is read-only'}`, { recovery, readOnly });
  }
}
