// `skytide migrate --adopt-appview` as an operator runs it: the real CLI, a child process, against a schema made by
// the AppView's own migrations (@atproto/bsky's Database, helpers/appview-schema.ts) holding a row of its own. A plain
// `migrate` exits 1 naming --adopt-appview and changes nothing; `migrate --adopt-appview` exits 0 with every migration
// recorded; run again it exits 0 and changes nothing. What the adopt makes of the schema is
// tests/integration/postgres/adopt-appview.test.ts's; this is the command around it.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { createAppViewSchema, type AppViewSchema } from '../../helpers/appview-schema.ts';
import { TEST_REDIS_URL } from '../../helpers/services.ts';

const CLI = new URL('../../../long-runners/cli/main.ts', import.meta.url).pathname;
const MIGRATIONS = readdirSync(new URL('../../../infra/migrations/', import.meta.url)).filter((f) => f.endsWith('.sql')).sort();

/** Runs `skytide <args>` to its end: its exit code and what it wrote. */
function skytide(args: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env['PATH'] ?? '', ...env } });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, output })));
}

describe('skytide migrate on a database the AppView made', { timeout: 120_000 }, () => {
  let app: AppViewSchema;
  let db: postgres.Sql;
  let env: Record<string, string>;

  /** Every table of the schema with a digest of its rows: what "changes nothing" is held to. */
  const snapshot = async (): Promise<Record<string, string>> => {
    const tables = await db<{ name: string }[]>`
      select table_name as name from information_schema.tables where table_schema = ${app.schema} and table_type = 'BASE TABLE' order by 1`;
    const out: Record<string, string> = {};
    for (const { name } of tables) {
      const [row] = await db.unsafe<{ digest: string | null }[]>(`select md5(string_agg(t::text, ',' order by t::text)) as digest from "${app.schema}"."${name}" t`);
      out[name] = row?.digest ?? 'empty';
    }
    return out;
  };

  beforeAll(async () => {
    // Its own database: the AppView's migrator introspects every schema of its database.
    app = await createAppViewSchema({ ownDatabase: true });
    db = postgres(app.url, { max: 1, onnotice: () => {} });
    await db.unsafe(`insert into "${app.schema}".actor (did, handle, "indexedAt") values ('did:plc:alice00000000000000000000', 'alice.test', '2026-01-01T00:00:00.000Z')`);
    const url = new URL(app.url);
    url.searchParams.set('options', `-c search_path=${app.schema}`);
    env = { DATABASE_URL: url.toString(), REDIS_URL: TEST_REDIS_URL };
  }, 180_000);

  afterAll(async () => {
    await db?.end();
    await app?.drop();
  });

  it('plain migrate exits 1 naming --adopt-appview and changes nothing', async () => {
    const before = await snapshot();
    expect(before).toHaveProperty('kysely_migration');
    expect(before).not.toHaveProperty('skytide_migrations');
    const { code, output } = await skytide(['migrate'], env);
    expect(code, output).toBe(1);
    expect(output).toContain('--adopt-appview');
    expect(await snapshot()).toEqual(before);
  });

  it('migrate --adopt-appview exits 0 with every migration recorded, the AppView\'s row kept', async () => {
    const { code, output } = await skytide(['migrate', '--adopt-appview'], env);
    expect(code, output).toBe(0);
    const recorded = await db<{ name: string }[]>`select name from ${db(app.schema)}.skytide_migrations order by name`;
    expect(recorded.map((r) => r.name)).toEqual(MIGRATIONS);
    expect(await db`select handle from ${db(app.schema)}.actor`).toEqual([{ handle: 'alice.test' }]);
  });

  it('migrate --adopt-appview again exits 0 and does nothing', async () => {
    const before = await snapshot();
    const { code, output } = await skytide(['migrate', '--adopt-appview'], env);
    expect(code, output).toBe(0);
    const applied = output.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l['msg'] === 'migrations applied');
    expect(applied?.['applied'], output).toEqual([]);
    expect(await snapshot()).toEqual(before);
  });
});
