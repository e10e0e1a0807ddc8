// Applies infra/migrations/NNNN_name.sql in filename order, all pending ones in one transaction (all or none: a
// failing migration leaves the schema as it was), recording each in skytide_migrations. An advisory lock serialises two processes starting at once. A recorded migration whose file is
// gone or renamed is our own corruption: it stops the process. A schema the AppView's own migrations made is refused,
// or, with `adoptAppView`, adopted in the same transaction (adopt-appview.ts).
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PostgresSql } from './client.ts';
import { InvariantError } from '../../functions/errors.ts';
import { checkRows } from '../../functions/sql-rows.ts';
import { adoptAppViewSchema, MigrationRefusedError, refusalOf, schemaOrigin } from './adopt-appview.ts';

export const DEFAULT_MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../infra/migrations');

const LOCK_KEY = 7_323_051; // arbitrary, constant: "skytide migrations"

export interface MigrateOptions {
  /** Adopt a schema the AppView's own migrations made (`skytide migrate --adopt-appview`); a no-op on any other. */
  adoptAppView?: boolean;
  /** The adopt script (infra/adopt/appview.sql). */
  adoptFile?: string;
}

/** The migrations applied (for an adopted schema: those the adopt stands for, then the ones after them). */
export async function applyMigrations(sql: PostgresSql, dir: string = DEFAULT_MIGRATIONS_DIR, options: MigrateOptions = {}): Promise<string[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f)).sort();
  return sql.transaction(async (tx) => {
    await tx.query('select pg_advisory_xact_lock($1)', [LOCK_KEY]);
    const origin = await schemaOrigin(tx);
    if (origin.kind === 'appview' && options.adoptAppView !== true) {
      const [{ schema } = { schema: '?' }] = checkRows(await tx.query('select current_schema() as schema'), { schema: 'string' });
      throw refusalOf(origin, schema);
    }
    if (origin.kind === 'empty' && options.adoptAppView === true) {
      const elsewhere = checkRows(await tx.query(`select table_schema as schema from information_schema.tables where table_name = 'kysely_migration' order by 1`), { schema: 'string' });
      throw new MigrationRefusedError(
        '--adopt-appview: no AppView schema (kysely_migration) in the schema DATABASE_URL\'s search_path picks' +
        (elsewhere.length > 0 ? ` (this database has one in ${elsewhere.map((r) => `"${r.schema}"`).join(', ')}: set search_path in DATABASE_URL's options)` : '') +
        '; nothing was changed',
      );
    }
    const adopted = origin.kind === 'appview' ? await adoptAppViewSchema(tx, origin, files, options.adoptFile) : [];
    await tx.query(
      'create table if not exists skytide_migrations (name varchar primary key, "appliedAt" varchar not null)',
    );
    const appliedAt = new Date().toISOString();
    for (const file of adopted) await tx.query('insert into skytide_migrations (name, "appliedAt") values ($1, $2)', [file, appliedAt]);
    const done = new Set((checkRows(await tx.query('select name from skytide_migrations'), { name: 'string' })).map((r) => r.name));
    const unknown = [...done].filter((name) => !files.includes(name));
    if (unknown.length > 0) throw new InvariantError(`applied migrations missing from ${dir}: ${unknown.join(', ')}`);
    const applied: string[] = [...adopted];
    for (const file of files) {
      if (done.has(file)) continue;
      const text = await readFile(path.join(dir, file), 'utf8');
      // Plain SQL files may hold many statements: run them as one simple query (no parameters).
      await tx.script(text);
      await tx.query('insert into skytide_migrations (name, "appliedAt") values ($1, $2)', [file, new Date().toISOString()]);
      applied.push(file);
    }
    return applied;
  });
}
