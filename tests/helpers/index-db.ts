// A migrated Postgres schema of its own for a test file, plus the ports the index function needs.
import { createSql, type PostgresSql } from '../../adapters/postgres/client.ts';
import { applyMigrations } from '../../adapters/postgres/migrate.ts';
import { noMetrics, silentLog, systemClock, type SqlExecutor } from '../../functions/ports.ts';
import type { IndexPorts } from '../../functions/index/handler.ts';
import { createTestSchema, TEST_DATABASE_URL } from './services.ts';
import { createScratchDatabase } from './scratch-database.ts';
import { checkRows } from '../../functions/sql-rows.ts';

export interface IndexDb {
  sql: PostgresSql;
  ports: IndexPorts;
  schema: string;
  url: string;
  close(): Promise<void>;
}

/** How the index reaches Postgres: COPY into staging tables (Node, large steps), or multi-row statements (Workers, PGlite, small steps). */
export type WriteMode = 'copy' | 'rows';
export const WRITE_MODES: readonly WriteMode[] = ['copy', 'rows'];

/** `copyMinRows` defaults to 0 in copy mode: every step goes through COPY, however small, so the tests exercise it. */
export async function createIndexDb(label: string, mode: WriteMode = 'copy', copyMinRows = 0): Promise<IndexDb> {
  const schema = await createTestSchema(label);
  const sql = createSql(schema.url, { max: 4, copy: mode === 'copy', copyMinRows });
  await applyMigrations(sql);
  return {
    sql,
    schema: schema.schema,
    url: schema.url,
    ports: { sql, clock: systemClock, log: silentLog, metrics: noMetrics },
    close: async () => {
      await sql.end();
      await schema.drop();
    },
  };
}

/** Every table the index writes, each dumped in a stable order, for whole-database comparisons. */
export const INDEX_TABLES: Record<string, string> = {
  record: 'uri', record_tombstone: 'uri', actor: 'did', actor_sync: 'did', post: 'uri', post_embed_image: '"postUri", position',
  post_embed_external: '"postUri"', post_embed_record: '"postUri", "embedUri"', post_embed_video: '"postUri"',
  quote: 'uri', feed_item: 'uri', like: 'uri', repost: 'uri', follow: 'uri', actor_block: 'uri', profile: 'uri',
  post_agg: 'uri', profile_agg: 'did',
};

export async function dumpIndex(sql: PostgresSql): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const [table, order] of Object.entries(INDEX_TABLES)) {
    // A zero aggregate row and no row mean the same count; which one exists depends on batch boundaries.
    const where = table === 'post_agg' ? ' where "likeCount" <> 0 or "replyCount" <> 0 or "repostCount" <> 0 or "quoteCount" <> 0'
      : table === 'profile_agg' ? ' where "followersCount" <> 0 or "followsCount" <> 0 or "postsCount" <> 0' : '';
    // actor."indexedAt" is when the DID was first seen, which depends on arrival order by design.
    const columns = table === 'actor' ? 'did, handle, "upstreamStatus"' : '*';
    out[table] = await sql.query(`select ${columns} from "${table}"${where} order by ${order}`);
  }
  return out;
}

/**
 * Like createIndexDb, in a database of its own rather than a schema: for clients that drop a URL's options, such as
 * wrangler dev's local Hyperdrive (the schema's search_path travels in `options`).
 */
export async function createIndexDatabase(label: string): Promise<IndexDb> {
  const database = await createScratchDatabase(label);
  const sql = createSql(database.url, { max: 4 });
  await applyMigrations(sql);
  return {
    sql,
    schema: 'public',
    url: database.url,
    ports: { sql, clock: systemClock, log: silentLog, metrics: noMetrics },
    close: async () => {
      await sql.end();
      await database.drop();
    },
  };
}

/** ANALYZE of one table, on `sql`. */
export async function analyzeTable(sql: SqlExecutor, schema: string, table: string): Promise<void> {
  await sql.query(`analyze "${schema.replaceAll('"', '""')}"."${table.replaceAll('"', '""')}"`);
}

/** ANALYZE of every table of one schema, as autovacuum would (a bare ANALYZE visits every schema of the database). */
export async function analyzeSchema(schema: string): Promise<void> {
  const admin = createSql(TEST_DATABASE_URL, { max: 1 });
  try {
    const tables = checkRows(await admin.query('select tablename from pg_tables where schemaname = $1', [schema]), { tablename: 'string' });
    for (const { tablename } of tables) await analyzeTable(admin, schema, tablename);
  } finally {
    await admin.end();
  }
}
