// Switching over from the AppView: a schema made by @atproto/bsky's own migrations and filled by its own indexer
// (IndexingService), then `skytide migrate`. A plain migrate refuses it, naming --adopt-appview, and changes nothing;
// the adopt (infra/adopt/appview.sql) leaves the schema a fresh skytide migrate makes (beside the AppView-only tables
// it keeps), every AppView row in place, and skytide's index then applies new events over the AppView's rows exactly
// as it would over its own; adopting again, or migrating after, does nothing.
import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSql, type PostgresSql } from '../../../adapters/postgres/client.ts';
import { applyMigrations } from '../../../adapters/postgres/migrate.ts';
import { indexBatch } from '../../../functions/index/handler.ts';
import type { JsonObject, StreamEvent } from '../../../functions/events.ts';
import { noMetrics, silentLog, systemClock } from '../../../functions/ports.ts';
import { checkRows } from '../../../functions/sql-rows.ts';
import { createAppViewSchema, type AppViewSchema } from '../../helpers/appview-schema.ts';
import { COMPARE, indexWithAppView } from '../../helpers/appview-oracle.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { del, follow, like, post, profile, repost, uriOf, write } from '../../helpers/events.ts';

/** The migrations shipped, in order: the adopt records 0001..0015 and applies the rest as any migrate does. */
const MIGRATIONS = readdirSync(new URL('../../../infra/migrations/', import.meta.url)).filter((f) => f.endsWith('.sql')).sort();

const ALICE = 'did:plc:alice00000000000000000000';
const BOB = 'did:plc:bob0000000000000000000000';
const CAROL = 'did:plc:carol000000000000000000000';
const DAVE = 'did:plc:dave00000000000000000000000';
const ERIN = 'did:plc:erin00000000000000000000000';
const POST = 'app.bsky.feed.post';
const P1 = uriOf(ALICE, POST, 'p1');
const P2 = uriOf(ALICE, POST, 'p2');

let rev = 0;
const create = (did: string, collection: string, rkey: string, record: JsonObject): StreamEvent =>
  write({ did, collection, rkey, rev: ++rev, record });
const cidOf = (e: StreamEvent): string => ('cid' in e ? e.cid : '');

// What the AppView indexed: posts, a reply, likes, a repost, follows, a profile and a thread gate allowing nobody,
// made after the reply (skytide judges a reply by the gate in force at its createdAt, the AppView by the one indexed).
const p1 = create(ALICE, POST, 'p1', post('hello'));
const p2 = create(ALICE, POST, 'p2', post('second'));
const ref = (e: StreamEvent, uri: string) => ({ uri, cid: cidOf(e) });
const APPVIEW_EVENTS: StreamEvent[] = [
  create(ALICE, 'app.bsky.actor.profile', 'self', profile('Alice', { createdAt: '2026-01-01T00:00:00.000Z' })),
  p1, p2,
  create(BOB, 'app.bsky.feed.like', 'l1', like(P1, cidOf(p1))),
  create(CAROL, 'app.bsky.feed.like', 'l1', like(P1, cidOf(p1))),
  create(BOB, 'app.bsky.feed.like', 'l2', like(P2, cidOf(p2))),
  create(BOB, 'app.bsky.feed.repost', 'r1', repost(P1, cidOf(p1))),
  create(BOB, 'app.bsky.graph.follow', 'f1', follow(ALICE)),
  create(CAROL, 'app.bsky.graph.follow', 'f1', follow(ALICE)),
  create(CAROL, POST, 'c1', post('reply', { reply: { root: ref(p1, P1), parent: ref(p1, P1) } })),
  create(ALICE, 'app.bsky.feed.threadgate', 'p1', { $type: 'app.bsky.feed.threadgate', post: P1, allow: [], createdAt: '2026-01-02T00:00:00.000Z' }),
];

// What skytide indexes after the adopt: an update and a delete of AppView-indexed posts, a new like of one, and a
// reply the AppView's thread gate forbids.
const NEW_EVENTS: StreamEvent[] = [
  write({ did: ALICE, collection: POST, rkey: 'p1', rev: ++rev, type: 'update', record: post('hello, edited') }),
  del({ did: ALICE, collection: POST, rkey: 'p2', rev: ++rev }),
  create(DAVE, 'app.bsky.feed.like', 'l1', like(P1, cidOf(p1))),
  create(DAVE, POST, 'd1', post('late reply', { reply: { root: ref(p1, P1), parent: ref(p1, P1) }, createdAt: '2026-01-03T00:00:00.000Z' })),
];

/** AppView tables skytide neither creates nor uses, which the adopt keeps as they are. */
const APPVIEW_ONLY = /^(kysely_migration|kysely_migration_lock|moderation_[a-z_]+|algo_whats_hot_view)$/;

/** The AppView's labels, as its label subscription stores them: one with an offset, one with an exp Postgres cannot read. */
const LABELS = [
  { src: 'did:plc:labeler0000000000000000', uri: P1, cid: '', val: 'spam', neg: false, cts: '2026-01-01T01:00:00.000+01:00', exp: null },
  { src: 'did:plc:labeler0000000000000000', uri: `at://${BOB}`, cid: '', val: '!hide', neg: false, cts: '2026-01-02T00:00:00.000Z', exp: '0000-06-01T00:00:00.000Z' },
];

let app: AppViewSchema;
let sql: PostgresSql;
let fresh: IndexDb;
let before: Record<string, string[]>;
let beforeColumns: Record<string, string[]>;

const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;

async function baseTables(db: PostgresSql): Promise<string[]> {
  return checkRows(await db.query(
    `select table_name as name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE' order by 1`,
  ), { name: 'string' }).map((r) => r.name);
}

async function columnsOf(db: PostgresSql, table: string): Promise<string[]> {
  return checkRows(await db.query(
    'select column_name as name from information_schema.columns where table_schema = current_schema() and table_name = $1 order by ordinal_position', [table],
  ), { name: 'string' }).map((r) => r.name);
}

/** Every row of `table` as JSON of `columns` (a column list may name an expression), sorted. */
async function rowsOf(db: PostgresSql, table: string, columns: readonly string[]): Promise<string[]> {
  const rows = checkRows(await db.query(`select to_jsonb(t)::text as row from (select ${columns.join(', ')} from ${ident(table)}) t`), { row: 'string' });
  return rows.map((r) => r.row).sort();
}

/** Tables, columns (type, collation, nullability, generation, default), indexes, constraints and sequences of the current schema. */
async function describeSchema(db: PostgresSql): Promise<string[]> {
  const rows = checkRows(await db.query(String.raw`
    with s as (select current_schema() as name)
    select 'table ' || table_name as d, table_name as t from information_schema.tables, s where table_schema = s.name
    union all
    select 'column ' || table_name || '.' || column_name || ' ' || data_type || coalesce(' collate ' || collation_name, '') || ' ' ||
           is_nullable || ' generated ' || is_generated || coalesce(' ' || generation_expression, '') || ' default ' || coalesce(column_default, ''), table_name
      from information_schema.columns, s where table_schema = s.name
    union all
    select 'index ' || pg_get_indexdef(i.indexrelid), t.relname from pg_index i join pg_class t on t.oid = i.indrelid
      join pg_namespace n on n.oid = t.relnamespace, s where n.nspname = s.name
    union all
    select 'constraint ' || c.conname || ' ' || pg_get_constraintdef(c.oid), t.relname from pg_constraint c join pg_class t on t.oid = c.conrelid
      join pg_namespace n on n.oid = c.connamespace, s where n.nspname = s.name
    union all
    select 'sequence ' || sequence_name, '' from information_schema.sequences, s where sequence_schema = s.name`,
  ), { d: 'string', t: 'string' });
  const [{ schema } = { schema: '' }] = checkRows(await db.query('select current_schema() as schema'), { schema: 'string' });
  // Schema names appear in index definitions and defaults; the opclass of trigram indexes is qualified by its own.
  const plain = (d: string) => d.replaceAll(`${schema}.`, '').replaceAll(`"${schema}".`, '').replace(/\bpublic\.(gist_trgm_ops)\b/g, '$1');
  return rows.filter((r) => !APPVIEW_ONLY.test(r.t) && !/^sequence moderation_/.test(r.d)).map((r) => plain(r.d)).sort();
}

beforeAll(async () => {
  // Its own database: the AppView's migrator introspects every schema of its database.
  [app, fresh] = await Promise.all([createAppViewSchema({ ownDatabase: true }), createIndexDb('adopt_fresh')]);
  await indexWithAppView(app, APPVIEW_EVENTS);
  const url = new URL(app.url);
  url.searchParams.set('options', `-c search_path=${app.schema}`);
  sql = createSql(url.toString(), { max: 4 });
  for (const l of LABELS) {
    await sql.query('insert into label (src, uri, cid, val, neg, cts, exp) values ($1, $2, $3, $4, $5, $6, $7)', [l.src, l.uri, l.cid, l.val, l.neg, l.cts, l.exp]);
  }
  // An account the AppView knows as deactivated.
  await sql.query(`insert into actor (did, handle, "indexedAt", "upstreamStatus") values ($1, 'erin.test', '2026-01-01T00:00:00.000Z', 'deactivated')`, [ERIN]);
  before = {};
  beforeColumns = {};
  for (const table of await baseTables(sql)) {
    beforeColumns[table] = (await columnsOf(sql, table)).map(ident);
    before[table] = await rowsOf(sql, table, beforeColumns[table]);
  }
  // The comparison can fail: the AppView did index what the events say.
  expect(before['post']).toHaveLength(3);
  expect(before['like']).toHaveLength(3);
}, 180_000);

afterAll(async () => {
  await sql?.end();
  await Promise.all([app?.drop(), fresh?.close()]);
});

describe('skytide migrate on a database the AppView made', { timeout: 120_000 }, () => {
  it('refuses it without --adopt-appview, naming the flag, and changes nothing', async () => {
    await expect(applyMigrations(sql)).rejects.toThrow(/made by the AppView's own migrations.*skytide migrate --adopt-appview.*nothing was changed/);
    expect(await baseTables(sql)).toEqual(Object.keys(before).sort());
    for (const [table, rows] of Object.entries(before)) expect(await rowsOf(sql, table, beforeColumns[table] ?? []), table).toEqual(rows);
  });

  it('--adopt-appview refuses a schema the AppView did not make', async () => {
    const empty = await createIndexDb('adopt_empty');
    try {
      await empty.sql.script('drop table skytide_migrations');
      await expect(applyMigrations(empty.sql, undefined, { adoptAppView: true })).rejects.toThrow(/no AppView schema \(kysely_migration\)/);
    } finally {
      await empty.close();
    }
  });

  it('--adopt-appview records 0001..0015 and leaves the schema a fresh migrate makes, beside the AppView-only tables', async () => {
    const applied = await applyMigrations(sql, undefined, { adoptAppView: true });
    const all = checkRows(await fresh.sql.query('select name from skytide_migrations order by name'), { name: 'string' }).map((r) => r.name);
    expect(applied).toEqual(all);
    // 0001..0015 recorded by the adopt, the later ones applied after it: every migration shipped.
    expect(applied).toEqual(MIGRATIONS);
    expect(applied).toContain('0015_label_exp_as_signed.sql');
    expect(await describeSchema(sql)).toEqual(await describeSchema(fresh.sql));
    // The AppView's bookkeeping stays: its migrator, pointed here again, finds its migrations applied.
    expect(await baseTables(sql)).toEqual(expect.arrayContaining(['kysely_migration', 'skytide_migrations']));
  });

  it('keeps every AppView row, with the rev rule, account and gate state derived from them', async () => {
    for (const [table, rows] of Object.entries(before)) {
      // An exp Postgres cannot read moved to "labelExp" as signed (0015), kept in label_version (0019); exp holds its
      // instant.
      const columns = table === 'label' ? (beforeColumns[table] ?? []).map((c) => (c === '"exp"' ? 'coalesce("labelExp", exp) as exp' : c)) : beforeColumns[table] ?? [];
      expect(await rowsOf(sql, table === 'label' ? 'label_version' : table, columns), table).toEqual(rows);
    }
    expect(await sql.query('select distinct rev from record')).toEqual([{ rev: '2222222222222' }]);
    // `label` is the AppView's table again, column for column; what skytide keeps of each label is in label_version.
    expect(await sql.query(`select column_name as c from information_schema.columns where table_schema = current_schema() and table_name = 'label' order by ordinal_position`))
      .toEqual(['src', 'uri', 'cid', 'val', 'neg', 'cts', 'exp'].map((c) => ({ c })));
    expect(await sql.query('select src, uri, cid, val, neg, cts, exp from label order by src, uri, cid, val'))
      .toEqual(await sql.query('select src, uri, cid, val, neg, cts, exp from label_version order by src, uri, cid, val'));
    expect(await sql.query(`select src, val, "ctsKey", "expKey", exp, "labelExp", "labelSig" from label_version order by val`)).toEqual([
      { src: LABELS[1]?.src, val: '!hide', ctsKey: '063934617600.000000000', expKey: '000013219200.000000000', exp: '0001-01-01T00:00:00.000Z', labelExp: '0000-06-01T00:00:00.000Z', labelSig: null },
      { src: LABELS[0]?.src, val: 'spam', ctsKey: '063934531200.000000000', expKey: null, exp: null, labelExp: null, labelSig: null },
    ]);
    expect(await sql.query('select did, active, status from account_state')).toEqual([{ did: ERIN, active: false, status: 'deactivated' }]);
    expect(await sql.query('select kind, "postUri" from gate_version')).toEqual([{ kind: 'thread', postUri: P1 }]);
  });

  it("skytide's index applies new events over the AppView's rows as over its own", async () => {
    const ports = { sql, clock: systemClock, log: silentLog, metrics: noMetrics };
    const { outcomes } = await indexBatch(NEW_EVENTS, ports);
    expect(outcomes.map((o) => o.status)).toEqual(NEW_EVENTS.map(() => 'ok'));
    // The counts build on the AppView's: 2 likes + Dave's; Carol's reply, not Dave's, which the AppView's thread gate
    // (in gate_version since the adopt) forbids, as the AppView does; Alice's p2 is gone.
    expect(await sql.query('select uri, "likeCount", "replyCount", "repostCount" from post_agg where uri = $1', [P1]))
      .toEqual([{ uri: P1, likeCount: 3, replyCount: 1, repostCount: 1 }]);
    expect(await sql.query('select "followersCount", "postsCount" from profile_agg where did = $1', [ALICE])).toEqual([{ followersCount: 2, postsCount: 1 }]);
    expect(await sql.query('select text from post where uri = $1', [P1])).toEqual([{ text: 'hello, edited' }]);
    expect(await sql.query('select uri from post where uri = $1 union all select uri from record where uri = $1', [P2])).toEqual([]);
    expect(await sql.query('select uri from record_tombstone')).toEqual([{ uri: P2 }]);
    expect(await sql.query(`select "violatesThreadGate" from post where uri = $1`, [uriOf(DAVE, POST, 'd1')])).toEqual([{ violatesThreadGate: true }]);
    // Every table both write, as skytide alone indexing the AppView's events and then these ends them.
    for (const batch of [APPVIEW_EVENTS, NEW_EVENTS]) {
      const { outcomes: own } = await indexBatch(batch, fresh.ports);
      expect(own.every((o) => o.status === 'ok')).toBe(true);
    }
    for (const [table, query] of Object.entries(COMPARE)) expect(await sql.query(query), table).toEqual(await fresh.sql.query(query));
    const records = 'select uri, cid, did, json from record order by uri';
    expect(await sql.query(records)).toEqual(await fresh.sql.query(records));
  });

  it('adopting again, and migrating after, change nothing', async () => {
    const schema = await describeSchema(sql);
    const dump = async () => Promise.all((await baseTables(sql)).map(async (t) => [t, await rowsOf(sql, t, (await columnsOf(sql, t)).map(ident))] as const));
    const rows = await dump();
    expect(await applyMigrations(sql, undefined, { adoptAppView: true })).toEqual([]);
    expect(await applyMigrations(sql)).toEqual([]);
    expect(await describeSchema(sql)).toEqual(schema);
    expect(await dump()).toEqual(rows);
  });
});

describe('--adopt-appview on an AppView schema as operators meet it', { timeout: 120_000 }, () => {
  it('refuses an AppView schema older than the one it adopts, and applies over indexes built beforehand CONCURRENTLY', async () => {
    const other = await createAppViewSchema({ ownDatabase: true });
    const url = new URL(other.url);
    url.searchParams.set('options', `-c search_path=${other.schema}`);
    const db = createSql(url.toString(), { max: 1 });
    try {
      // An AppView that has not run its last migration yet: its schema is not the one the adopt was written for.
      const [last] = checkRows(await db.query('delete from kysely_migration where name = (select max(name) from kysely_migration) returning name'), { name: 'string' });
      await expect(applyMigrations(db, undefined, { adoptAppView: true })).rejects.toThrow(/older than _20260904T130000000Z.*nothing was changed/);
      expect(await baseTables(db)).not.toContain('skytide_migrations');
      await db.query(`insert into kysely_migration (name, timestamp) values ($1, '2026-09-04T13:00:00.000Z')`, [last?.name ?? '']);
      // Built outside any transaction, as an operator would, under the adopt's names (infra/README.md).
      await db.script('create index concurrently repost_subject_creator_idx on repost (subject, creator)');
      await db.script(`create index concurrently post_agg_did_idx on post_agg (split_part(uri, '/', 3))`);
      const oids = await db.query(`select indexrelid::int as oid from pg_index where indexrelid::regclass::text in ('repost_subject_creator_idx', 'post_agg_did_idx') order by 1`);
      expect(oids).toHaveLength(2);
      expect((await applyMigrations(db, undefined, { adoptAppView: true })).at(-1)).toBe(MIGRATIONS.at(-1));
      // The same indexes, the first now under 0001's name.
      const after = await db.query(`select indexrelid::int as oid from pg_index where indexrelid::regclass::text in ('repost_subject_idx', 'post_agg_did_idx') order by 1`);
      expect(after).toEqual(oids);
      expect(await describeSchema(db)).toEqual(await describeSchema(fresh.sql));
    } finally {
      await db.end();
      await other.drop();
    }
  });
});
