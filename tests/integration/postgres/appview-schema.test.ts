// The index's schema against the official AppView's (its own migrations, @atproto/bsky), so AppView code pointed at
// this database finds every column it reads and every index its queries use. On every table both have:
// - each AppView column exists here with the same type (varchar and text alike) and generation; NOT NULL may differ
//   only where noted;
// - each AppView index has one here that serves the same reads: same method, its key columns (with their order and
//   direction) first, its INCLUDE columns among ours. UNIQUE may be dropped only on the constraints skytide drops by
//   design (every record in a repo has its row: 0001_appview.sql), never on a primary key.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { createAppViewSchema, type AppViewSchema } from '../../helpers/appview-schema.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { TEST_DATABASE_URL } from '../../helpers/services.ts';
import { beforeMigration } from '../../helpers/migration-step.ts';

/**
 * AppView UNIQUE constraints skytide keeps as plain indexes: verifications notify on every version (gates.ts's kin),
 * and the AppView promotes no duplicate of a reference-list opt-out; the others are kept (duplicates.ts).
 */
const NOT_UNIQUE_BY_DESIGN = new Set(['reference_list_opt_out_unique_subject', 'verification_unique_subject_creator']);

/** AppView tables not created here, and why: its migration bookkeeping, and moderation tables no current code reads. */
const NOT_CREATED: Record<string, string> = {
  kysely_migration: "the AppView's migration bookkeeping (ours: skytide_migrations)",
  kysely_migration_lock: "the AppView's migration bookkeeping",
  moderation_action: 'legacy moderation', moderation_action_subject_blob: 'legacy moderation',
  moderation_event: 'legacy moderation', moderation_report: 'legacy moderation',
  moderation_report_resolution: 'legacy moderation', moderation_subject_status: 'legacy moderation',
};

/** Columns whose NOT NULL differs and why that reads the same. */
const NULLABILITY_DIFFERS: Record<string, string> = {
  // Generated from two NOT NULL columns: never null, declared or not.
  sortAt: 'generated', sortedAt: 'generated',
  // Always written: a profile without createdAt gets its indexedAt, as the AppView gives it the time of indexing.
  'profile.createdAt': 'always written',
  // NOT NULL here, nullable there: the lexicon requires a name, and a record without one is not indexed.
  'starter_pack.name': 'required by the lexicon',
};

interface IndexShape {
  name: string;
  table: string;
  unique: boolean;
  primary: boolean;
  method: string;
  keys: string[];
  include: string[];
}

const sql = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
let appview: AppViewSchema;
let ours: IndexDb;
let appviewTables = new Set<string>();

/** The AppView's schema is in a database of its own (its migrator introspects every schema of its database). */
let appSql: postgres.Sql | undefined;
const on = (schema: string): postgres.Sql => (appSql !== undefined && schema === appview.schema ? appSql : sql);

beforeAll(async () => {
  [appview, ours] = await Promise.all([createAppViewSchema({ ownDatabase: true }), createIndexDb('appview_schema')]);
  appSql = postgres(appview.url, { max: 1, onnotice: () => {} });
  appviewTables = await tables(appview.schema);
}, 120_000);
afterAll(async () => {
  await appSql?.end();
  await Promise.all([appview?.drop(), ours?.close()]);
  await sql.end();
});

async function tables(schema: string): Promise<Set<string>> {
  const rows = await on(schema)<{ t: string }[]>`select table_name as t from information_schema.tables where table_schema = ${schema} and table_type = 'BASE TABLE'`;
  return new Set(rows.map((r) => r.t));
}

async function columns(schema: string): Promise<Map<string, { type: string; nullable: boolean; generated: string }>> {
  const rows = await on(schema)<{ t: string; c: string; type: string; nullable: string; generated: string }[]>`
    select table_name as t, column_name as c, data_type as type, is_nullable as nullable, is_generated as generated
    from information_schema.columns where table_schema = ${schema}`;
  const text = (type: string) => (type === 'character varying' ? 'text' : type);
  return new Map(rows.map((r) => [`${r.t}.${r.c}`, { type: text(r.type), nullable: r.nullable === 'YES', generated: r.generated }]));
}

async function indexes(schema: string): Promise<IndexShape[]> {
  // Keys as written in the index definition (expressions, opclasses and DESC included), INCLUDE columns apart.
  const rows = await on(schema)<{ name: string; t: string; uniq: boolean; prim: boolean; method: string; nkey: number; cols: string[] }[]>`
    select c.relname as name, t.relname as t, i.indisunique as uniq, i.indisprimary as prim, am.amname as method,
           i.indnkeyatts as nkey,
           array(select pg_get_indexdef(i.indexrelid, k, false) || case when i.indoption[k - 1] & 1 = 1 then ' desc' else '' end
                 from generate_series(1, i.indnatts) as k order by k) as cols
    from pg_index i join pg_class c on c.oid = i.indexrelid join pg_class t on t.oid = i.indrelid
    join pg_namespace n on n.oid = t.relnamespace join pg_am am on am.oid = c.relam
    where n.nspname = ${schema}`;
  // Opclasses are written with the schema that holds them; only their names matter here.
  const plain = (col: string) => col.replace(/\b[a-z_]+\.(gist_trgm_ops)\b/, '$1');
  return rows.map((r) => ({
    name: r.name, table: r.t, unique: r.uniq, primary: r.prim, method: r.method,
    keys: r.cols.slice(0, r.nkey).map(plain), include: r.cols.slice(r.nkey).map(plain),
  }));
}

/** One of `candidates` that serves what `wanted` serves, or undefined. */
function servedBy(wanted: IndexShape, candidates: readonly IndexShape[]): IndexShape | undefined {
  // A constraint kept as a plain index serves equality on all its columns (ON CONFLICT, "has this viewer liked it"),
  // so its columns may lead in any order.
  const anyOrder = NOT_UNIQUE_BY_DESIGN.has(wanted.name);
  const leads = (c: IndexShape) => anyOrder
    ? wanted.keys.every((k) => c.keys.slice(0, wanted.keys.length).includes(k))
    : wanted.keys.every((k, i) => c.keys[i] === k);
  return candidates.find((c) =>
    c.table === wanted.table && c.method === wanted.method && leads(c) &&
    wanted.include.every((col) => c.keys.includes(col) || c.include.includes(col)) &&
    (!wanted.unique || c.unique || (NOT_UNIQUE_BY_DESIGN.has(wanted.name) && !wanted.primary)));
}

describe('the index schema against the AppView schema', () => {
  it('has every table of the AppView, but its migration bookkeeping and legacy moderation tables', async () => {
    const mine = await tables(ours.schema);
    const missing = [...appviewTables].filter((t) => !mine.has(t) && NOT_CREATED[t] === undefined).sort();
    expect(missing).toEqual([]);
    // The comparison can fail: tables no record fills, which AppView services write, are among those checked.
    expect(appviewTables.has('mute') && appviewTables.has('bookmark')).toBe(true);
  });

  it('has every column the AppView has on the tables both keep, with the same type', async () => {
    const shared = [...(await tables(ours.schema))].filter((t) => appviewTables.has(t));
    const mine = await columns(ours.schema);
    const theirs = await columns(appview.schema);
    const problems: string[] = [];
    for (const [key, want] of theirs) {
      const [table, column] = key.split('.') as [string, string];
      if (!shared.includes(table)) continue;
      const have = mine.get(key);
      if (have === undefined) {
        problems.push(`${key}: missing`);
        continue;
      }
      if (have.type !== want.type) problems.push(`${key}: ${have.type}, the AppView's is ${want.type}`);
      if (have.generated !== want.generated) problems.push(`${key}: generated ${have.generated}, the AppView's ${want.generated}`);
      if (have.nullable !== want.nullable && NULLABILITY_DIFFERS[column] === undefined && NULLABILITY_DIFFERS[key] === undefined) {
        problems.push(`${key}: ${have.nullable ? 'nullable' : 'NOT NULL'}, the AppView's is ${want.nullable ? 'nullable' : 'NOT NULL'}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('has an index serving every AppView index on the tables both keep', async () => {
    const shared = new Set([...(await tables(ours.schema))].filter((t) => appviewTables.has(t)));
    const mine = await indexes(ours.schema);
    const theirs = (await indexes(appview.schema)).filter((i) => shared.has(i.table));
    const missing = theirs.filter((i) => servedBy(i, mine) === undefined).map((i) => `${i.table}: ${i.name} (${i.method} ${i.keys.join(', ')}${i.include.length > 0 ? ` include ${i.include.join(', ')}` : ''})`);
    expect(missing).toEqual([]);
    // The comparison can fail: the index every like lookup by post and time needs is one of those checked.
    expect(theirs.some((i) => i.name === 'like_subject_sort_at_creator_idx')).toBe(true);
  });
});

describe('migration 0006 on a database that already holds the network', () => {
  it('applies over indexes an operator built beforehand with CREATE INDEX CONCURRENTLY, keeping them', async () => {
    await beforeMigration('0006_appview_parity.sql', async (db, migrate) => {
      // Built outside any transaction, as an operator would, before the migration.
      await db.script('create index concurrently like_subject_sort_at_creator_idx on "like" (subject, "sortAt" desc) include (creator)');
      await db.script('create index concurrently post_creator_cursor_idx on post (creator, "sortAt", cid)');
      const built = `select indexrelid::regclass::text as name, indexrelid::int as oid from pg_index where indexrelid::regclass::text in ('like_subject_sort_at_creator_idx', 'post_creator_cursor_idx') order by 1`;
      const before = await db.query(built);
      expect(await migrate()).toEqual(['0006_appview_parity.sql']);
      expect(await db.query(built)).toEqual(before);
      expect(before).toHaveLength(2);
    });
  });
});
