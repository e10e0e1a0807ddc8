// Applies infra/migrations/NNNN_name.sql in filename order, all pending ones in one transaction (all or none: a
// failing migration leaves the schema as it was), recording each in skytide_migrations. An advisory lock serialises two processes starting at once. A recorded migration whose file is
// gone or renamed is our own corruption: it stops the process.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PostgresSql } from './client.ts';
import { InvariantError } from '../../functions/errors.ts';
import { checkRows } from '../../functions/sql-rows.ts';

export const DEFAULT_MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../infra/migrations');

const LOCK_KEY = 7_323_051; // arbitrary, constant: "skytide migrations"

export async function applyMigrations(sql: PostgresSql, dir: string = DEFAULT_MIGRATIONS_DIR): Promise<string[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f)).sort();
  return sql.transaction(async (tx) => {
    await tx.query('select pg_advisory_xact_lock($1)', [LOCK_KEY]);
    await tx.query(
      'create table if not exists skytide_migrations (name varchar primary key, "appliedAt" varchar not null)',
    );
    const done = new Set((checkRows(await tx.query('select name from skytide_migrations'), { name: 'string' })).map((r) => r.name));
    const unknown = [...done].filter((name) => !files.includes(name));
    if (unknown.length > 0) throw new InvariantError(`applied migrations missing from ${dir}: ${unknown.join(', ')}`);
    const applied: string[] = [];
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
