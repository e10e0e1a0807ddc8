// `skytide dev` with no DATABASE_URL: PostgreSQL in WASM (PGlite) with its data in `.skytide/dev-db/`, served on a
// loopback port to the ordinary postgres.js client, so the pipeline runs the same code and the same migrations as
// against a real server. Dev only: @electric-sql/pglite is a devDependency and this module is imported only by the
// dev command. PGlite is one session: the socket server queues every client's queries into it, so interleaved
// transactions from several connections would share it; the dev command therefore uses one pooled connection.
import { mkdirSync } from 'node:fs';
import type { PGliteOptions } from '@electric-sql/pglite';
import path from 'node:path';

export interface EmbeddedPostgres {
  /** postgres://… on 127.0.0.1 and the port the socket server took. */
  url: string;
  dataDir: string;
  close(): Promise<void>;
}

/**
 * How PGlite opens the dev database, for the dev command and for anyone reading its folder after: with pg_trgm, which
 * the AppView's search indexes use (migration 0006), as on a real server; without it PGlite cannot open those tables.
 */
export async function devDatabaseOptions(dataDir: string): Promise<PGliteOptions> {
  const { pg_trgm } = await import('@electric-sql/pglite/contrib/pg_trgm');
  return { dataDir, extensions: { pg_trgm } };
}

export async function startEmbeddedPostgres(projectDir: string): Promise<EmbeddedPostgres> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const dataDir = path.join(projectDir, '.skytide', 'dev-db');
  mkdirSync(dataDir, { recursive: true });
  const db = await PGlite.create(await devDatabaseOptions(dataDir));
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0 });
  await server.start();
  const conn = server.getServerConn(); // "127.0.0.1:PORT"
  return {
    url: `postgres://postgres@${conn}/postgres`,
    dataDir,
    close: async () => {
      await server.stop();
      await db.close();
    },
  };
}
