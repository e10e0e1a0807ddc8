// The least CPU any indexer needs on this machine for what `npm run bench -- index` indexes, measured beside it, so
// skytide's CPU per record reads against a lower bound rather than only against the AppView:
// - Postgres: the index's final rows alone, copied with one INSERT ... SELECT per table, in one transaction, into
//   empty copies of its tables that carry every index (the AppView's index set). No reads, no rev rule, no upserts, no
//   updated aggregates, no deletes: what writing the result costs, nothing more.
// - Node and Redis: reading the events from a stream, parsing them as the consumer does, and acknowledging them.
// Both are divided by the events indexed, like the figures they sit next to.
import { existsSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { Sql } from '../../functions/ports.ts';
import type { StreamEvent } from '../../functions/events.ts';
import { checkRows } from '../../functions/sql-rows.ts';
import { ensureGroup, readNew, settle } from '../../adapters/redis/consumer-group.ts';
import { parseEventFields } from '../../long-runners/consumer/parse-event-fields.ts';
import { cpuSeconds, serviceCpuSeconds } from '../helpers/cpu-time.ts';
import { appendEvents } from './stream-events.ts';

const q = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * CPU seconds of the Postgres backend that writes `schema`'s rows into empty copies of its tables (in a scratch
 * schema, dropped after), or undefined where the backend's /proc entry cannot be read (a remote server).
 */
export async function postgresFloorSeconds(sql: Sql, schema: string): Promise<number | undefined> {
  const clone = `${schema}_floor`;
  // All in one transaction, the copies dropped at its end: a failure leaves nothing behind.
  return sql.transaction(async (tx) => {
    const [backend] = checkRows(await tx.query('select pg_backend_pid() as pid'), { pid: 'number' });
    const pid = backend?.pid;
    if (pid === undefined || !existsSync(`/proc/${pid}/stat`)) return undefined;
    // Every ordinary table but the migrations ledger; generated columns (sortAt) are computed again on insert.
    const tables = checkRows(await tx.query(
      `select c.relname as name, string_agg(quote_ident(a.attname), ', ' order by a.attnum) as columns
       from pg_class c join pg_namespace n on n.oid = c.relnamespace join pg_attribute a on a.attrelid = c.oid
       where n.nspname = $1 and c.relkind = 'r' and c.relname <> 'skytide_migrations'
         and a.attnum > 0 and not a.attisdropped and a.attgenerated = ''
       group by c.relname order by c.relname`,
      [schema],
    ), { name: 'string', columns: 'string' });
    await tx.query(`create schema ${q(clone)}`);
    for (const { name } of tables) await tx.query(`create table ${q(clone)}.${q(name)} (like ${q(schema)}.${q(name)} including all)`);
    const before = cpuSeconds(pid);
    for (const { name, columns } of tables) {
      await tx.query(`insert into ${q(clone)}.${q(name)} (${columns}) select ${columns} from ${q(schema)}.${q(name)}`);
    }
    const seconds = cpuSeconds(pid) - before;
    await tx.query(`drop schema ${q(clone)} cascade`);
    return seconds;
  });
}

/** CPU seconds Node and Redis spend reading `events` from a stream in batches, parsing and acknowledging them. */
export async function streamFloorSeconds(redis: Redis, stream: string, events: readonly StreamEvent[], batchSize: number): Promise<{ node: number; redis?: number }> {
  const group = 'floor';
  try {
    await appendEvents(redis, () => stream, events);
    await ensureGroup(redis, stream, group);
    const before = { node: process.cpuUsage(), services: serviceCpuSeconds() };
    let parsed = 0;
    for (;;) {
      const entries = await readNew(redis, stream, group, 'floor', batchSize, 1);
      if (entries.length === 0) break;
      for (const entry of entries) if (parseEventFields(entry.fields).ok) parsed++;
      await settle(redis, stream, `${stream}_dlq`, group, { ack: entries.map((e) => e.id), letters: [] });
    }
    const node = process.cpuUsage(before.node);
    const after = serviceCpuSeconds();
    if (parsed !== events.length) throw new Error(`the floor parsed ${parsed} of ${events.length} events`);
    return {
      node: (node.user + node.system) / 1e6,
      redis: before.services === undefined || after === undefined ? undefined : after.redis - before.services.redis,
    };
  } finally {
    await redis.del(stream, `${stream}_dlq`);
  }
}
