// A database migrated up to, but not including, one migration, then that migration alone: for tests of what a
// migration does to a database that already holds data (indexes built beforehand, rows in an older format).
import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSql, type PostgresSql } from '../../adapters/postgres/client.ts';
import { applyMigrations, DEFAULT_MIGRATIONS_DIR } from '../../adapters/postgres/migrate.ts';
import { createTestSchema } from './services.ts';

/**
 * Runs `body` on a fresh schema migrated with every migration before `file` (a name in infra/migrations);
 * `migrate()` then applies `file` and returns what applyMigrations applied. The schema is dropped afterwards.
 */
export async function beforeMigration(
  file: string,
  body: (sql: PostgresSql, migrate: () => Promise<string[]>) => Promise<void>,
): Promise<void> {
  const schema = await createTestSchema(`migration_${file.slice(0, 4)}`);
  const dir = await mkdtemp(join(tmpdir(), 'skytide-migrations-'));
  const sql = createSql(schema.url, { max: 1 });
  try {
    const files = (await readdir(DEFAULT_MIGRATIONS_DIR)).filter((f) => f.endsWith('.sql')).sort();
    if (!files.includes(file)) throw new Error(`no migration ${file}`);
    for (const f of files.filter((f) => f < file)) await copyFile(join(DEFAULT_MIGRATIONS_DIR, f), join(dir, f));
    await applyMigrations(sql, dir);
    await body(sql, async () => {
      await copyFile(join(DEFAULT_MIGRATIONS_DIR, file), join(dir, file));
      return applyMigrations(sql, dir);
    });
  } finally {
    await sql.end();
    await rm(dir, { recursive: true, force: true });
    await schema.drop();
  }
}
