// The AppView's own read code (its data plane's record and label routes, @atproto/bsky) run against a database
// skytide indexed: a team switching over points its AppView at this database, so what the AppView reads must parse. A
// deleted record keeps a tombstone row in `record` (its rev, so an older create cannot resurrect it); the AppView
// must read it as it reads a record it never had. Labels it reads row by row, not as our queryLabels decides them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { indexBatch } from '../../../functions/index/handler.ts';
import { createIndexDatabase, type IndexDb } from '../../helpers/index-db.ts';
import { loadBsky, type AppViewDatabase } from '../../helpers/appview-schema.ts';
import { del, post, uriOf, write } from '../../helpers/events.ts';
import { beforeMigration } from '../../helpers/migration-step.ts';
import { storeLabels } from '../../../functions/label/store.ts';
import { toRow, type LabelRow } from '../../../functions/label/version.ts';
import type { SqlExecutor } from '../../../functions/ports.ts';
import { queryLabels } from '../../../functions/label/query.ts';

const ALICE = 'did:plc:aliceaaaaaaaaaaaaaaaaaaa';
const POST = 'app.bsky.feed.post';

interface RecordEntry { cid: string; record: Uint8Array }
type RecordRoutes = (db: AppViewDatabase) => {
  getPostRecords(req: { uris: string[] }): Promise<{ records: RecordEntry[] }>;
  getLikeRecords(req: { uris: string[] }): Promise<{ records: RecordEntry[] }>;
};

let db: IndexDb;
let appview: AppViewDatabase;
let routes: ReturnType<RecordRoutes>;
type LabelRoutes = (db: AppViewDatabase) => { getLabels(req: { subjects: string[]; issuers: string[] }): Promise<{ labels: Uint8Array[] }> };
let labelRoutes: ReturnType<LabelRoutes>;
/** The AppView's label hydration: its data plane's rows, each checked against com.atproto.label.defs#label. */
type LabelHydratorClass = new (dataplane: ReturnType<LabelRoutes>) => {
  getLabelsForSubjects(subjects: string[], labelers: { dids: string[]; redact: Set<string> }): Promise<Map<string, { labels: Map<string, { val: string }> }>>;
};
let LabelHydrator: LabelHydratorClass;

beforeAll(async () => {
  // A database of its own (schema `public`): the AppView takes only schema names of letters and underscores.
  db = await createIndexDatabase('appview_reads');
  const { Database } = await loadBsky<{ Database: new (opts: { url: string; schema: string; poolSize: number }) => AppViewDatabase }>('index.js');
  appview = new Database({ url: db.url, schema: db.schema, poolSize: 1 });
  const { default: records } = await loadBsky<{ default: RecordRoutes }>('data-plane/server/routes/records.js');
  routes = records(appview);
  const { default: labels } = await loadBsky<{ default: LabelRoutes }>('data-plane/server/routes/labels.js');
  labelRoutes = labels(appview);
  ({ LabelHydrator } = await loadBsky<{ LabelHydrator: LabelHydratorClass }>('hydration/label.js'));
}, 60_000);
afterAll(async () => {
  await appview?.close();
  await db?.close();
});

describe("the AppView's data plane on a database skytide indexed", () => {
  it('hydrates the labels skytide stored, signed or not (no column of ours reads as a bad lexicon field)', async () => {
    const src = 'did:plc:labelerlabelerlabelerhyd';
    const subject = 'did:plc:subjectsubjectsubjecthyd';
    await db.sql.transaction((tx) => storeLabels(tx, [
      toRow({ ver: 1, src, uri: subject, val: 'signed', cts: '2026-01-01T00:00:00.000Z', sig: new Uint8Array(64).fill(7) }, 'did:key:zQ3shsigner'),
      // A LABEL_TRUSTED_SOURCES label as rsky relayed it: no ver, no sig.
      toRow({ src, uri: subject, val: 'unsigned', cts: '2026-01-01T00:00:00.000Z' }),
    ]));
    const hydrated = await new LabelHydrator(labelRoutes).getLabelsForSubjects([subject], { dids: [src], redact: new Set() });
    expect([...(hydrated.get(subject)?.labels.values() ?? [])].map((l) => l.val).sort()).toEqual(['signed', 'unsigned']);
    // The AppView hands every column of a row to its answers (its lexicon check keeps unknown fields): nothing of
    // ours may be among them (the signature as a Buffer's JSON, the key that verified it, the sortable keys).
    const { labels } = await labelRoutes.getLabels({ subjects: [subject], issuers: [src] });
    const keys = labels.map((b) => Object.keys(JSON.parse(new TextDecoder().decode(b)) as object).sort());
    expect(keys).toEqual([['cts', 'src', 'uri', 'val'], ['cts', 'src', 'uri', 'val']]);
  });

  it("reads labels whose exp Postgres cannot read as a timestamp (year 0000, offset +16:00) without failing the query", async () => {
    const src = 'did:plc:labelerlabelerlabelerexp';
    const plain = 'did:plc:subjectsubjectsubjectexa';
    const odd = 'did:plc:subjectsubjectsubjectexb';
    const cts = '2030-01-01T00:00:00.000Z';
    await db.sql.transaction((tx) => storeLabels(tx, [
      toRow({ src, uri: plain, val: 'plain', cts }),
      toRow({ src, uri: odd, val: 'long-gone', cts, exp: '0000-06-01T00:00:00Z' }),
      toRow({ src, uri: odd, val: 'far-east', cts, exp: '2999-01-01T00:00:00+16:00' }),
    ]));
    // The AppView's query casts exp with `exp::timestamp`: one unreadable row failed it for every subject asked.
    const hydrated = await new LabelHydrator(labelRoutes).getLabelsForSubjects([plain, odd], { dids: [src], redact: new Set() });
    const vals = (uri: string) => [...(hydrated.get(uri)?.labels.values() ?? [])].map((l) => l.val);
    expect([vals(plain), vals(odd)]).toEqual([['plain'], ['far-east']]);
    // skytide reads exp back exactly as signed.
    const ours = await queryLabels(db.sql, { now: () => Date.parse('2030-06-01T00:00:00.000Z') }, { uriPatterns: [odd], limit: 50 });
    expect(ours.labels).toEqual([{ src, uri: odd, val: 'far-east', cts, exp: '2999-01-01T00:00:00+16:00' }]);
  });

  it('lapses a label at its exp whatever offset it was signed with (exp::timestamp drops the offset)', async () => {
    const src = 'did:plc:labelerlabelerlabeleroff';
    const subject = 'did:plc:subjectsubjectsubjectoff';
    const cts = '2026-01-01T00:00:00.000Z';
    /** The instant `ms` written in local time at `offsetHours` ('-08:00'), as a labeler in that zone signs it. */
    const at = (ms: number, offsetHours: number) => {
      const local = new Date(ms + offsetHours * 3_600_000).toISOString().slice(0, 23);
      const sign = offsetHours < 0 ? '-' : '+';
      return `${local}${sign}${String(Math.abs(offsetHours)).padStart(2, '0')}:00`;
    };
    const now = Date.now();
    const lapsesLater = at(now + 3 * 3_600_000, -8); // in force three more hours; its local time is five hours ago
    const lapsedAlready = at(now - 3 * 3_600_000, 5); // lapsed three hours ago; its local time is two hours ahead
    await db.sql.transaction((tx) => storeLabels(tx, [
      toRow({ src, uri: subject, val: 'in-force', cts, exp: lapsesLater }),
      toRow({ src, uri: subject, val: 'lapsed', cts, exp: lapsedAlready }),
    ]));
    const hydrated = await new LabelHydrator(labelRoutes).getLabelsForSubjects([subject], { dids: [src], redact: new Set() });
    expect([...(hydrated.get(subject)?.labels.values() ?? [])].map((l) => l.val)).toEqual(['in-force']);
    // skytide reads exp back exactly as signed, and decides by the instant too.
    const ours = await queryLabels(db.sql, { now: () => now }, { uriPatterns: [subject], limit: 50 });
    expect(ours.labels).toEqual([{ src, uri: subject, val: 'in-force', cts, exp: lapsesLater }]);
  });

  it('reads labels row by row: a negation with another cid leaves the label in force there, not in our queryLabels', async () => {
    const src = 'did:plc:labelerlabelerlabelerxxx';
    const uri = uriOf(ALICE, POST, 'edited');
    const cidA = 'bafyreihpbwrqsipbigarmwyqokkse4dtfpg3jkygvmizjp6anyopplx4om';
    const cidB = 'bafyreieznjaifhdvvsaohgg3pptul5mbmeqd6nijfittzzhftexpgcivxq';
    await db.sql.transaction((tx) => storeLabels(tx, [
      toRow({ src, uri, cid: cidA, val: 'spam', cts: '2026-01-01T00:00:00.000Z' }),
      toRow({ src, uri, cid: cidB, val: 'spam', neg: true, cts: '2026-01-02T00:00:00.000Z' }),
    ]));
    // skytide's queryLabels decides per (src, uri, val) across cids: the newer negation wins.
    const ours = await queryLabels(db.sql, { now: () => Date.parse('2030-06-01T00:00:00.000Z') }, { uriPatterns: [uri], limit: 50 });
    expect(ours.labels).toEqual([]);
    // The AppView takes every row and its hydration skips only the negation's own: the cid-A label still applies.
    const { labels } = await labelRoutes.getLabels({ subjects: [uri], issuers: [src] });
    const read = labels.map((b) => JSON.parse(new TextDecoder().decode(b)) as Record<string, unknown>);
    expect(read.filter((l) => l['neg'] !== true).map((l) => [l['cid'], l['val']])).toEqual([[cidA, 'spam']]);
  });

  it('reads a live post, a deleted one (tombstone) and one never seen, the last two alike', async () => {
    const live = uriOf(ALICE, POST, 'live');
    const gone = uriOf(ALICE, POST, 'gone');
    const never = uriOf(ALICE, POST, 'never');
    await indexBatch([
      write({ did: ALICE, collection: POST, rkey: 'live', rev: 1, record: post('still here') }),
      write({ did: ALICE, collection: POST, rkey: 'gone', rev: 2, record: post('soon gone') }),
      del({ did: ALICE, collection: POST, rkey: 'gone', rev: 3 }),
    ], db.ports);
    // A delete with no record before it leaves a tombstone too.
    await indexBatch([del({ did: ALICE, collection: 'app.bsky.feed.like', rkey: 'l1', rev: 4 })], db.ports);

    const { records } = await routes.getPostRecords({ uris: [live, gone, never] });
    const [liveEntry, goneEntry, neverEntry] = records as [RecordEntry, RecordEntry, RecordEntry];
    expect(JSON.parse(new TextDecoder().decode(liveEntry.record))).toMatchObject({ text: 'still here' });
    expect(liveEntry.cid).not.toBe('');
    // The AppView's hydration drops an entry without a cid: a tombstone reads as a record it never had.
    expect(goneEntry.cid).toBe(neverEntry.cid);
    expect(new TextDecoder().decode(goneEntry.record)).toBe(new TextDecoder().decode(neverEntry.record));
    const likes = await routes.getLikeRecords({ uris: [uriOf(ALICE, 'app.bsky.feed.like', 'l1')] });
    expect(likes.records[0]?.cid).toBe('');
  });
});

describe('migration 0008 on a database indexed before it', () => {
  it("moves the tombstones (json '') out of `record`, and leaves live records alone", async () => {
    await beforeMigration('0008_record_tombstone.sql', async (sql, migrate) => {
      await sql.query(`insert into record (uri, cid, did, json, rev, "indexedAt") values
        ('at://did:plc:a/app.bsky.feed.post/1', '', 'did:plc:a', '', '3k2', '2026-01-01T00:00:00.000Z'),
        ('at://did:plc:a/app.bsky.feed.post/2', 'bafy', 'did:plc:a', '{"text":""}', '3k3', '2026-01-01T00:00:00.000Z')`);
      expect(await migrate()).toEqual(['0008_record_tombstone.sql']);
      expect(await sql.query('select uri, json from record')).toEqual([{ uri: 'at://did:plc:a/app.bsky.feed.post/2', json: '{"text":""}' }]);
      expect(await sql.query('select uri, did, rev from record_tombstone')).toEqual([{ uri: 'at://did:plc:a/app.bsky.feed.post/1', did: 'did:plc:a', rev: '3k2' }]);
    });
  });
});

/** Label rows as skytide wrote them before 0019 (into `label` itself), exp exactly as signed. */
async function storeAsSigned(sql: SqlExecutor, rows: readonly LabelRow[]): Promise<void> {
  for (const r of rows) {
    await sql.query(`insert into label (src, uri, cid, val, neg, cts, exp, "ctsKey", "expKey") values ($1, $2, '', $3, false, $4, $5, $6, $7)`,
      [r.label.src, r.label.uri, r.label.val, r.label.cts, r.label.exp ?? null, r.ctsKey, r.expKey ?? null]);
  }
}

describe('migration 0015 on labels stored before it', () => {
  it('moves an exp Postgres cannot read to "labelExp", writes its instant in UTC to exp, and leaves other rows alone', async () => {
    await beforeMigration('0015_label_exp_as_signed.sql', async (sql, migrate) => {
      const src = 'did:plc:labelerlabelerlabelermig';
      const rows = [
        toRow({ src, uri: 'did:plc:a', val: 'far-east', cts: '2026-01-01T00:00:00Z', exp: '2999-01-01T07:00:00+16:00' }),
        toRow({ src, uri: 'did:plc:a', val: 'long-gone', cts: '2026-01-01T00:00:00Z', exp: '0000-06-01T00:00:00Z' }),
        toRow({ src, uri: 'did:plc:a', val: 'usual', cts: '2026-01-01T00:00:00Z', exp: '2999-01-01T00:00:00+05:00' }),
      ];
      // As skytide stored them before 0015: exp exactly as signed.
      await storeAsSigned(sql, rows);
      expect(await migrate()).toEqual(['0015_label_exp_as_signed.sql']);
      expect(await sql.query('select val, exp, "labelExp", exp::timestamp::text as at from label order by val')).toEqual([
        { val: 'far-east', exp: '2998-12-31T15:00:00.000Z', labelExp: '2999-01-01T07:00:00+16:00', at: '2998-12-31 15:00:00' },
        { val: 'long-gone', exp: '0001-01-01T00:00:00.000Z', labelExp: '0000-06-01T00:00:00Z', at: '0001-01-01 00:00:00' },
        { val: 'usual', exp: '2999-01-01T00:00:00+05:00', labelExp: null, at: '2999-01-01 00:00:00' },
      ]);
    });
  });
});

describe('migration 0018 on labels stored before it', () => {
  it('writes every exp with an offset other than zero in UTC, keeps the signed one in "labelExp", and leaves the rest', async () => {
    await beforeMigration('0018_label_exp_utc.sql', async (sql, migrate) => {
      const src = 'did:plc:labelerlabelerlabelermig';
      const rows = [
        toRow({ src, uri: 'did:plc:a', val: 'west', cts: '2026-01-01T00:00:00Z', exp: '2030-01-01T12:00:00.5-08:00' }),
        toRow({ src, uri: 'did:plc:a', val: 'east', cts: '2026-01-01T00:00:00Z', exp: '2999-01-01T00:00:00+05:00' }),
        toRow({ src, uri: 'did:plc:a', val: 'utc', cts: '2026-01-01T00:00:00Z', exp: '2030-01-01T00:00:00Z' }),
        toRow({ src, uri: 'did:plc:a', val: 'zero', cts: '2026-01-01T00:00:00Z', exp: '2030-01-01T00:00:00+00:00' }),
      ];
      // As skytide stored them between 0015 and 0018: exp exactly as signed (Postgres could read each).
      await storeAsSigned(sql, rows);
      expect(await migrate()).toEqual(['0018_label_exp_utc.sql']);
      expect(await sql.query('select val, exp, "labelExp", exp::timestamp::text as at from label order by val')).toEqual([
        { val: 'east', exp: '2998-12-31T19:00:00.000Z', labelExp: '2999-01-01T00:00:00+05:00', at: '2998-12-31 19:00:00' },
        { val: 'utc', exp: '2030-01-01T00:00:00Z', labelExp: null, at: '2030-01-01 00:00:00' },
        { val: 'west', exp: '2030-01-01T20:00:00.500Z', labelExp: '2030-01-01T12:00:00.5-08:00', at: '2030-01-01 20:00:00.5' },
        { val: 'zero', exp: '2030-01-01T00:00:00+00:00', labelExp: null, at: '2030-01-01 00:00:00' },
      ]);
      // What the label function writes from now on is what the migration left.
      const { appviewExp } = await import('../../../functions/label/instant.ts');
      expect(rows.map((r) => appviewExp(r.label.exp!))).toEqual(['2030-01-01T20:00:00.500Z', '2998-12-31T19:00:00.000Z', '2030-01-01T00:00:00Z', '2030-01-01T00:00:00+00:00']);
    });
  });
});

describe('migration 0019 on labels stored before it', () => {
  it('moves what skytide keeps beyond the AppView columns into label_version, leaving label the AppView table', async () => {
    await beforeMigration('0019_label_version.sql', async (sql, migrate) => {
      const src = 'did:plc:labelerlabelerlabelermig';
      const signed = toRow({ src, uri: 'did:plc:a', val: 'signed', cts: '2026-01-01T00:00:00.000Z', exp: '2030-01-01T12:00:00-08:00' });
      await sql.query(`insert into label (src, uri, cid, val, neg, cts, exp, "negSigned", "labelExp", "labelVer", "labelSig", "signingKey", "ctsKey", "expKey")
        values ($1, 'did:plc:a', '', 'signed', false, '2026-01-01T00:00:00.000Z', '2030-01-01T20:00:00.000Z', true, '2030-01-01T12:00:00-08:00', 1,
          decode('0707', 'hex'), 'did:key:zQ3shsigner', $2, $3)`,
        [src, signed.ctsKey, signed.expKey ?? null]);
      await storeAsSigned(sql, [toRow({ src, uri: 'did:plc:b', val: 'unsigned', cts: '2026-01-02T00:00:00.000Z' })]);
      expect(await migrate()).toEqual(['0019_label_version.sql']);
      expect(await sql.query('select * from label order by uri')).toEqual([
        { src, uri: 'did:plc:a', cid: '', val: 'signed', neg: false, cts: '2026-01-01T00:00:00.000Z', exp: '2030-01-01T20:00:00.000Z' },
        { src, uri: 'did:plc:b', cid: '', val: 'unsigned', neg: false, cts: '2026-01-02T00:00:00.000Z', exp: null },
      ]);
      expect(await sql.query('select uri, "negSigned", "labelExp", "labelVer", encode("labelSig", \'hex\') as sig, "signingKey", "expKey" is not null as "hasExpKey" from label_version order by uri')).toEqual([
        { uri: 'did:plc:a', negSigned: true, labelExp: '2030-01-01T12:00:00-08:00', labelVer: 1, sig: '0707', signingKey: 'did:key:zQ3shsigner', hasExpKey: true },
        { uri: 'did:plc:b', negSigned: null, labelExp: null, labelVer: null, sig: null, signingKey: null, hasExpKey: false },
      ]);
      // Read back as before: exactly as signed.
      const read = await queryLabels(sql, { now: () => Date.parse('2029-06-01T00:00:00.000Z') }, { uriPatterns: ['did:plc:*'], limit: 50 });
      expect(read.labels.map((l) => [l['val'], l['exp'], l['neg']])).toEqual([['signed', '2030-01-01T12:00:00-08:00', false], ['unsigned', undefined, undefined]]);
    });
  });
});
