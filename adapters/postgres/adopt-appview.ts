// A schema the official AppView made with its own migrations (kysely_migration, no skytide_migrations): told apart
// from a skytide schema and an empty one, refused by a plain migrate, and adopted only when asked
// (`skytide migrate --adopt-appview`): infra/adopt/appview.sql brings it to what 0001..ADOPTED_THROUGH leave, and
// those migrations are recorded as applied. Not automatic: the adopt rebuilds `label` and builds indexes with writes
// to those tables held, and a DATABASE_URL pointed at a running AppView's database by mistake must not change it.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ScriptExecutor } from './client.ts';
import { checkRows } from '../../functions/sql-rows.ts';

export const DEFAULT_ADOPT_FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../infra/adopt/appview.sql');

/** The last migration whose result infra/adopt/appview.sql reproduces; later ones apply as on any skytide schema. */
export const ADOPTED_THROUGH = '0015_label_exp_as_signed.sql';

/** The AppView migration (@atproto/bsky 0.0.280's last) whose schema infra/adopt/appview.sql was written against. */
export const APPVIEW_MIGRATION_AT_LEAST = '_20260904T130000000Z';

/** What made the schema the search_path picks. */
export type SchemaOrigin = { kind: 'skytide' } | { kind: 'empty' } | { kind: 'appview'; lastMigration: string };

/** The adopt was not asked for, or cannot be done; nothing was changed. */
export class MigrationRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationRefusedError';
  }
}

/** Which bookkeeping table the current schema holds (skytide's wins: an adopted schema keeps kysely_migration). */
export async function schemaOrigin(tx: ScriptExecutor): Promise<SchemaOrigin> {
  const tables = checkRows(await tx.query(
    `select table_name as name from information_schema.tables
     where table_schema = current_schema() and table_name in ('skytide_migrations', 'kysely_migration')`,
  ), { name: 'string' }).map((r) => r.name);
  if (tables.includes('skytide_migrations')) return { kind: 'skytide' };
  if (!tables.includes('kysely_migration')) return { kind: 'empty' };
  const [last] = checkRows(await tx.query('select max(name) as name from kysely_migration'), { name: 'string?' });
  return { kind: 'appview', lastMigration: last?.name ?? '' };
}

/** Why a plain migrate stops on an AppView-made schema. */
export function refusalOf(origin: { lastMigration: string }, schema: string): MigrationRefusedError {
  return new MigrationRefusedError(
    `schema "${schema}" was made by the AppView's own migrations (kysely_migration, last ${origin.lastMigration || 'none'}) ` +
    'and has no skytide_migrations: run `skytide migrate --adopt-appview` to bring it to skytide\'s schema, keeping every row ' +
    '(infra/README.md, "Adopting an AppView database"); nothing was changed',
  );
}

/**
 * Runs the adopt script in `tx` (the caller's transaction, under its advisory lock) on an AppView-made schema, and
 * returns the migration files it stands for, to be recorded as applied.
 */
export async function adoptAppViewSchema(tx: ScriptExecutor, origin: { lastMigration: string }, files: readonly string[], adoptFile: string = DEFAULT_ADOPT_FILE): Promise<string[]> {
  if (origin.lastMigration < APPVIEW_MIGRATION_AT_LEAST) {
    throw new MigrationRefusedError(
      `the AppView's schema here is at its migration ${origin.lastMigration || 'none'}, older than ${APPVIEW_MIGRATION_AT_LEAST} ` +
      '(@atproto/bsky 0.0.280), which infra/adopt/appview.sql adopts: run the AppView\'s own migrations to that point first; nothing was changed',
    );
  }
  const covered = files.filter((f) => f <= ADOPTED_THROUGH);
  if (!covered.includes(ADOPTED_THROUGH)) throw new MigrationRefusedError(`no ${ADOPTED_THROUGH} among the migrations: the adopt stands for 0001..${ADOPTED_THROUGH}`);
  await tx.script(await readFile(adoptFile, 'utf8'));
  return covered;
}
