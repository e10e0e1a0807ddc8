// The official AppView's Postgres schema (`@atproto/bsky`'s own migrations, run by its own Database class) in a
// schema of its own on the test server: the reference the index's schema is compared with, and the baseline
// indexer's database in the benchmark. Its migrations install pg_trgm in `public`, as they do in production.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import postgres from 'postgres';
import { TEST_DATABASE_URL } from './services.ts';
import { createScratchDatabase } from './scratch-database.ts';

/** What the benchmark uses of the AppView's Database; `migrateToLatestOrThrow` builds its schema. */
export interface AppViewDatabase {
  migrateToLatestOrThrow(): Promise<unknown>;
  close(): Promise<void>;
}

type DatabaseClass = new (opts: { url: string; schema: string; poolSize: number }) => AppViewDatabase;

const require = createRequire(import.meta.url);
const bskyDist = dirname(require.resolve('@atproto/bsky'));

/** A module of `@atproto/bsky`'s dist by file (IndexingService and others are not exported from its root). */
export const loadBsky = async <T>(path: string): Promise<T> => (await import(pathToFileURL(join(bskyDist, path)).href)) as T;

/** A schema name the AppView accepts (letters and underscores only). */
function schemaName(): string {
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  return `bench_appview_${Array.from({ length: 10 }, () => letters[Math.floor(Math.random() * 26)]).join('')}`;
}

export interface AppViewSchema {
  schema: string;
  Database: DatabaseClass;
  /** The database holding the schema: the test database, or one of its own (`ownDatabase`). */
  url: string;
  drop(): Promise<void>;
}

export interface AppViewSchemaOptions {
  /**
   * In a database of its own rather than the shared test database: the AppView's migrator (kysely) introspects every
   * schema of its database, and another file dropping its schema meanwhile fails it ("relation does not exist"). The
   * benchmark keeps the shared one: it copies skytide's rows across schemas.
   */
  ownDatabase?: boolean;
}

/** Creates a schema and runs every AppView migration in it. */
export async function createAppViewSchema(options: AppViewSchemaOptions = {}): Promise<AppViewSchema> {
  const { Database } = await loadBsky<{ Database: DatabaseClass }>('index.js');
  const schema = schemaName();
  const scratch = options.ownDatabase === true ? await createScratchDatabase('appview') : undefined;
  const url = scratch?.url ?? TEST_DATABASE_URL;
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create schema "${schema}"`);
  await admin.end();
  const db = new Database({ url, schema, poolSize: 1 });
  try {
    await db.migrateToLatestOrThrow();
  } finally {
    await db.close();
  }
  return {
    schema,
    Database,
    url,
    drop: async () => {
      if (scratch !== undefined) return scratch.drop();
      const drop = postgres(url, { max: 1, onnotice: () => {} });
      await drop.unsafe(`drop schema if exists "${schema}" cascade`);
      await drop.end();
    },
  };
}
