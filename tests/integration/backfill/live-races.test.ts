// Live events indexed while a backfill of the same repo runs, with signed repos served over HTTP on 127.0.0.1 (a
// fake PDS and PLC) into a real Postgres schema: whatever the interleaving, the rows end as the stream in order would
// leave them (README.md, "Contracts": Postgres).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backfillRepos, type BackfillPorts } from '../../../functions/backfill-repo/handler.ts';
import { indexBatch } from '../../../functions/index/handler.ts';
import { createIdentityResolver } from '../../../adapters/identity/resolver.ts';
import { noMetrics, silentLog, systemClock } from '../../../functions/ports.ts';
import type { Fetch, Sql } from '../../../functions/ports.ts';
import type { HandleResolver } from '../../../functions/atproto/identity/handle.ts';
import { createIndexDb, WRITE_MODES, type IndexDb } from '../../helpers/index-db.ts';
import { startFakePlc, type FakePlc } from '../../helpers/fake-plc.ts';
import { repoDoc, startFakePds, type FakePds } from '../../helpers/fake-pds.ts';
import { buildSyntheticRepo } from '../../helpers/synthetic-repo.ts';
import { purgeAccount } from '../../../functions/index/account-deletion.ts';
import { documentTick, refreshHandle } from '../../../functions/backfill-repo/account.ts';
import { at, del, fakeCid, post, tid, uriOf, write } from '../../helpers/events.ts';
import { SEQ_BACKFILL, type JsonObject, type RecordDeleteEvent, type RecordWriteEvent } from '../../../functions/events.ts';

let db: IndexDb;
let plc: FakePlc;
let pds: FakePds;

beforeAll(async () => {
  db = await createIndexDb('backfill_live_races');
  plc = await startFakePlc();
  pds = await startFakePds();
});
afterAll(async () => {
  await pds?.close();
  await plc?.close();
  await db?.close();
});

/** A signed repo of `records` records for `did`, served by the fake PDS and named by its PLC document. */
async function serve(did: string, records: number) {
  const repo = await buildSyntheticRepo(did, records);
  pds.set(did, repo.car);
  plc.set(did, repoDoc(did, repo.didKey, pds.url));
  return repo;
}

function ports(over: Partial<BackfillPorts> = {}, on: IndexDb = db): BackfillPorts {
  return {
    clock: systemClock, log: silentLog, metrics: noMetrics, sql: on.sql, fetch: globalThis.fetch, timeoutMs: 10_000,
    identity: createIdentityResolver({ fetch: globalThis.fetch, plcUrl: plc.url, allowPrivate: true }), ...over,
  };
}

/** globalThis.fetch, running `then` once right after the first request whose URL contains `part` was answered. */
function fetchThen(part: string, then: () => Promise<unknown>): Fetch {
  let fired = false;
  return async (input, init) => {
    const res = await globalThis.fetch(input, init);
    if (!fired && String(input instanceof Request ? input.url : input).includes(part)) {
      fired = true;
      await then();
    }
    return res;
  };
}

/** db.sql, running `then` once right after the first statement whose text starts with `prefix`. */
function after(prefix: string, then: () => Promise<unknown>): Sql {
  let fired = false;
  return {
    query: async (text, params) => {
      const rows = await db.sql.query(text, params);
      if (!fired && text.startsWith(prefix)) {
        fired = true;
        await then();
      }
      return rows;
    },
    transaction: (fn) => db.sql.transaction(fn),
  };
}

/** `sql`, whose transactions run `then` once right after the first statement that starts with `prefix`, before going on. */
function pausedAfter(sql: Sql, prefix: string, then: () => Promise<unknown>): Sql {
  let fired = false;
  return {
    query: (text, params) => sql.query(text, params),
    transaction: (fn) => sql.transaction((tx) => fn({
      ...(tx.copyRows === undefined ? {} : { copyRows: tx.copyRows.bind(tx), copyMinRows: tx.copyMinRows }),
      query: async (text, params) => {
        const rows = await tx.query(text, params);
        if (!fired && text.trimStart().startsWith(prefix)) {
          fired = true;
          await then();
        }
        return rows;
      },
    })),
  };
}

const count = async (query: string, params: string[]) => (await db.sql.query(query, params)).length;

describe('live events during a backfill', () => {
  it('a live delete older than the CAR removes a record the live path indexed after the backfill read its rows', async () => {
    const did = 'did:plc:floorfloorfloorfloorfloo';
    await serve(did, 5);
    // Created at rev 1 and deleted at rev 2, both long before the CAR was cut: the CAR does not hold it.
    const x = { did, collection: 'app.bsky.feed.post', rkey: '3jzfcijpj2z2a' };
    const uri = `at://${did}/${x.collection}/${x.rkey}`;
    // A lagging live consumer indexes the create just after the backfill read the repo's rows (so the backfill does
    // not tombstone it), and the delete only once the backfill has set the repo's floor.
    const sql = after('select uri, rev from record where did', () => indexBatch([write({ ...x, rev: 1, record: post('gone') })], db.ports));
    const { reports } = await backfillRepos([{ did }], ports({ sql }));
    expect(reports[0]).toMatchObject({ status: 'synchronized', created: 5, deleted: 0 });
    expect(await count(`select uri from record where uri = $1`, [uri])).toBe(1);
    const { outcomes } = await indexBatch([del({ ...x, rev: 2 })], db.ports);
    expect(outcomes).toEqual([{ status: 'ok' }]);
    expect(await count(`select uri from record where uri = $1`, [uri])).toBe(0);
    expect(await count(`select uri from post where uri = $1`, [uri])).toBe(0);
    // Its count went with it: the author's posts count is the posts it has.
    expect(await db.sql.query(`select "postsCount" = (select count(*) from post where creator = $1) as exact from profile_agg where did = $1`, [did])).toEqual([{ exact: true }]);
    expect(await count(`select uri from record_tombstone where uri = $1`, [uri])).toBe(1);
    expect(await count(`select uri from record where did = $1`, [did])).toBe(5);
  });

  it('a gate version the live stream delivers below the snapshot still judges the replies and quotes made under it', async () => {
    // A lagging stream: the backfill fetched the repo with its gates' last versions (anyone may reply and quote), then
    // the stream brings the versions before them (nobody may) and a reply and a quote made while those held. Those
    // writes are older than the snapshot and write no row, but they are versions of the gate: one event at a time
    // judged the reply and the quote violating, and so must the index now. Another pair of accounts, indexed live
    // only, is the reference.
    const POST = 'app.bsky.feed.post';
    const rkey = tid(1);
    const gates = (did: string, n: number, closed: boolean): { collection: string; rkey: string; record: JsonObject }[] => {
      const postUri = uriOf(did, POST, rkey);
      return [
        { collection: 'app.bsky.feed.threadgate', rkey, record: { $type: 'app.bsky.feed.threadgate', post: postUri, createdAt: at(n), ...(closed ? { allow: [] } : {}) } },
        { collection: 'app.bsky.feed.postgate', rkey, record: { $type: 'app.bsky.feed.postgate', post: postUri, createdAt: at(n), embeddingRules: closed ? [{ $type: 'app.bsky.feed.postgate#disableRule' }] : [] } },
      ];
    };
    const stream = (did: string, other: string) => {
      const ref = { uri: uriOf(did, POST, rkey), cid: fakeCid(`${did} gated`) };
      return [
        write({ did, collection: POST, rkey, rev: 1, record: post('gated', { createdAt: at(1) }) }),
        ...gates(did, 2, true).map((g) => write({ did, ...g, rev: 2 })),
        write({ did: other, collection: POST, rkey: tid(3), rev: 3, record: post('a reply', { createdAt: at(3), reply: { root: ref, parent: ref } }) }),
        write({ did: other, collection: POST, rkey: tid(4), rev: 3, record: post('a quote', { createdAt: at(3), embed: { $type: 'app.bsky.embed.record', record: ref } }) }),
        ...gates(did, 4, false).map((g) => write({ did, ...g, rev: 4, type: 'update' })),
      ];
    };
    const verdicts = async (did: string, other: string) => ({
      posts: await db.sql.query(`select text, "violatesThreadGate", "violatesEmbeddingRules" from post where creator = $1 order by text`, [other]),
      notifications: await db.sql.query(`select reason from notification where did = $1 order by reason`, [did]),
      counts: await db.sql.query(`select "replyCount", "quoteCount" from post_agg where uri = $1`, [uriOf(did, POST, rkey)]),
    });

    const [refDid, refOther] = ['did:plc:gatereferencegatereferen', 'did:plc:gatereferenceotherrefere'];
    for (const e of stream(refDid, refOther)) await indexBatch([e], db.ports);
    const reference = await verdicts(refDid, refOther);
    expect(reference.posts).toEqual([
      { text: 'a quote', violatesThreadGate: null, violatesEmbeddingRules: true },
      { text: 'a reply', violatesThreadGate: true, violatesEmbeddingRules: null },
    ]);

    const [did, other] = ['did:plc:gatefloorgatefloorgatefl', 'did:plc:gatefloorothergatefloors'];
    const repo = await buildSyntheticRepo(did, 1, [], [{ collection: POST, rkey, record: post('gated', { createdAt: at(1) }) }, ...gates(did, 4, false)]);
    pds.set(did, repo.car);
    plc.set(did, repoDoc(did, repo.didKey, pds.url));
    const { reports } = await backfillRepos([{ did }], ports());
    expect(reports[0]).toMatchObject({ status: 'synchronized' });
    const { fates } = await indexBatch(stream(did, other).slice(0, 3), db.ports);
    // Below the snapshot: no row written from them.
    expect(fates).toEqual(['stale', 'stale', 'stale']);
    for (const e of stream(did, other).slice(3)) await indexBatch([e], db.ports);
    expect(await verdicts(did, other)).toEqual(reference);
  });

  it('an edit or delete of a post older than the snapshot still takes the quotes it took one event at a time', async () => {
    // B quotes A's post; A then edits it, or deletes it and makes it again; the backfill holds the post's last version
    // and a lagging stream brings the rest afterwards. One event at a time the edit (another CID) or the delete took
    // the quote's row and count; the ops older than the snapshot write no row, but take what they took.
    const POST = 'app.bsky.feed.post';
    const rkey = tid(1);
    const cases: Record<string, (did: string) => (RecordWriteEvent | RecordDeleteEvent)[]> = {
      edit: (did: string) => [
        write({ did, collection: POST, rkey, rev: 1, record: post('first', { createdAt: at(1) }) }),
        write({ did, collection: POST, rkey, rev: 3, type: 'update', record: post('edited', { createdAt: at(1) }) }),
      ],
      remade: (did: string) => [
        write({ did, collection: POST, rkey, rev: 1, record: post('first', { createdAt: at(1) }) }),
        del({ did, collection: POST, rkey, rev: 3 }),
        write({ did, collection: POST, rkey, rev: 4, record: post('first', { createdAt: at(1) }) }),
      ],
    };
    const stream = (did: string, other: string, ops: (did: string) => (RecordWriteEvent | RecordDeleteEvent)[]) => {
      const [made, ...rest] = ops(did) as [RecordWriteEvent, ...(RecordWriteEvent | RecordDeleteEvent)[]];
      const ref = { uri: uriOf(did, POST, rkey), cid: made.cid };
      return [made, write({ did: other, collection: POST, rkey: tid(2), rev: 2, record: post('a quote', { createdAt: at(2), embed: { $type: 'app.bsky.embed.record', record: ref } }) }), ...rest];
    };
    const state = async (did: string) => ({
      quotes: await db.sql.query(`select "subjectCid" from quote where subject = $1`, [uriOf(did, POST, rkey)]),
      counts: await db.sql.query(`select "quoteCount" from post_agg where uri = $1 and "quoteCount" <> 0`, [uriOf(did, POST, rkey)]),
      notifications: await db.sql.query(`select reason from notification where did = $1`, [did]),
    });
    for (const [name, ops] of Object.entries(cases)) {
      const [refDid, refOther] = [`did:plc:pastref${name.padEnd(17, 'r')}`, `did:plc:pastrefother${name.padEnd(12, 'r')}`];
      for (const e of stream(refDid, refOther, ops)) await indexBatch([e], db.ports);
      const reference = await state(refDid);
      expect(reference.quotes).toEqual([]);

      const [did, other] = [`did:plc:pastbf${name.padEnd(18, 'b')}`, `did:plc:pastbfother${name.padEnd(13, 'b')}`];
      const last = ops(did).at(-1) as RecordWriteEvent;
      const repo = await buildSyntheticRepo(did, 1, [], [{ collection: POST, rkey, record: last.record }]);
      pds.set(did, repo.car);
      plc.set(did, repoDoc(did, repo.didKey, pds.url));
      const { reports } = await backfillRepos([{ did }], ports());
      expect(reports[0]).toMatchObject({ status: 'synchronized' });
      for (const e of stream(did, other, ops)) await indexBatch([e], db.ports);
      expect({ name, ...(await state(did)) }).toEqual({ name, ...reference });
    }
  });

  it("a backfilled reply in a followers-only thread meets the replier's follow, indexed before or held by the same CAR", async () => {
    // A gates a post to its followers; B follows A, then replies. B's repo comes by a backfill (its live events lagging
    // or missed). In key order a repo's posts come before its follows: the follow the CAR holds was written after the
    // reply was judged (violating), and one indexed live before was replayed away by the backfill's write of it.
    const POST = 'app.bsky.feed.post';
    const FOLLOW = 'app.bsky.graph.follow';
    const events = (a: string, b: string) => {
      const made = write({ did: a, collection: POST, rkey: tid(1), rev: 1, record: post('followers only', { createdAt: at(1) }) });
      const ref = { uri: uriOf(a, POST, tid(1)), cid: made.cid };
      return {
        ref,
        a: [made, write({ did: a, collection: 'app.bsky.feed.threadgate', rkey: tid(1), rev: 2, record: { $type: 'app.bsky.feed.threadgate', post: ref.uri, createdAt: at(2), allow: [{ $type: 'app.bsky.feed.threadgate#followerRule' }] } })],
        follow: { collection: FOLLOW, rkey: tid(3), record: { $type: FOLLOW, subject: a, createdAt: at(3) } as JsonObject },
        reply: { collection: POST, rkey: tid(4), record: post('a reply', { createdAt: at(4), reply: { root: ref, parent: ref } }) },
      };
    };
    const verdict = async (ref: { uri: string }) => ({
      reply: await db.sql.query(`select "violatesThreadGate", "invalidReplyRoot" from post where "replyParent" = $1`, [ref.uri]),
      count: await db.sql.query(`select "replyCount" from post_agg where uri = $1`, [ref.uri]),
      notified: await db.sql.query(`select reason from notification where "reasonSubject" = $1 or "recordUri" in (select uri from post where "replyParent" = $1)`, [ref.uri]),
    });
    const [refA, refB] = ['did:plc:followerreffollowerrefaa', 'did:plc:followerreffollowerrefbb'];
    const r = events(refA, refB);
    for (const e of [...r.a, write({ did: refB, ...r.follow, rev: 3 }), write({ did: refB, ...r.reply, rev: 4 })]) await indexBatch([e], db.ports);
    const reference = await verdict(r.ref);
    // Allowed: counted, and its author notified.
    expect(reference.reply).toHaveLength(1);
    expect(reference.reply[0]?.['violatesThreadGate']).not.toBe(true);
    expect(reference.count).toEqual([{ replyCount: 1 }]);

    for (const [label, followLive] of [['car', false], ['live', true]] as const) {
      const [a, b] = [`did:plc:followerbf${label}`.padEnd(32, 'a'), `did:plc:followerbf${label}`.padEnd(32, 'b')];
      const e = events(a, b);
      for (const x of e.a) await indexBatch([x], db.ports);
      if (followLive) await indexBatch([write({ did: b, ...e.follow, rev: 3 })], db.ports);
      const repo = await buildSyntheticRepo(b, 1, [], [e.follow, e.reply]);
      pds.set(b, repo.car);
      plc.set(b, repoDoc(b, repo.didKey, pds.url));
      const { reports } = await backfillRepos([{ did: b }], ports());
      expect(reports[0]).toMatchObject({ status: 'synchronized' });
      expect({ label, ...(await verdict(e.ref)) }).toEqual({ label, ...reference });
    }
    // A backfill's records in one batch in key order (as rsky's firehose_backfill delivers them to the index): the
    // follow held before the batch counts at the reply's place, though the batch writes it again as a create.
    const [a, b] = ['did:plc:followerbfbatchaaaaaaaaa', 'did:plc:followerbfbatchbbbbbbbbb'];
    const e = events(a, b);
    for (const x of e.a) await indexBatch([x], db.ports);
    const follow = write({ did: b, ...e.follow, rev: 3 });
    await indexBatch([follow], db.ports);
    const backfilled = [write({ did: b, ...e.reply, rev: 9 }), { ...write({ did: b, ...e.follow, rev: 9 }), cid: follow.cid }].map((x) => ({ ...x, seq: SEQ_BACKFILL }));
    await indexBatch(backfilled, db.ports);
    expect(await verdict(e.ref)).toEqual(reference);
  });

  it('removes what the repo no longer holds a page of rows at a time: every missed delete, nothing newer, nothing it holds', async () => {
    // The index's rows of the repo were all read into one map first, so memory grew with the rows held (an account
    // that deleted most of what was indexed held far more than its CAR). Pages of 4 rows here; 12 deleted records, a
    // newer one and the repo's own 5 spread across them.
    const did = 'did:plc:pagedpagedpagedpagedpage';
    await serve(did, 5);
    const missed = Array.from({ length: 12 }, (_, i) => ({ did, collection: i % 2 === 0 ? 'app.bsky.feed.like' : 'app.bsky.feed.post', rkey: tid(4_000_000 + i) }));
    const newer = { did, collection: 'app.bsky.feed.post', rkey: tid(4_100_000) };
    const { outcomes } = await indexBatch([
      ...missed.map((m) => write({ ...m, rev: 1, record: m.collection === 'app.bsky.feed.post' ? post('deleted since') : { $type: 'app.bsky.feed.like', subject: { uri: `at://${did}/app.bsky.feed.post/${tid(1)}`, cid: fakeCid('s') }, createdAt: '2026-01-01T00:00:00.000Z' } })),
      { type: 'create', seq: 100, time: new Date().toISOString(), ...newer, commit: fakeCid('paged-commit'), rev: tid(Date.now() * 1000 * 1024 + 1_000_000_000), cid: fakeCid('paged-newer'), record: post('made live after the CAR') },
    ], db.ports);
    expect(outcomes.every((o) => o.status === 'ok')).toBe(true);
    // What the backfill holds of the index's rows: no statement of its own returns more than a page (or a chunk's
    // records), where the one read of every row returned all 18.
    let most = 0;
    const sql: Sql = {
      query: async (text, params) => {
        const rows = await db.sql.query(text, params);
        most = Math.max(most, rows.length);
        return rows;
      },
      transaction: (fn) => db.sql.transaction(fn),
    };
    const { reports } = await backfillRepos([{ did }], ports({ priorPageRows: 4, sql }));
    expect(reports[0]).toMatchObject({ status: 'synchronized', created: 5, deleted: 12, stale: 0 });
    expect(most).toBeLessThanOrEqual(5);
    const kept = (await db.sql.query(`select uri from record where did = $1`, [did])).map((r) => String(r['uri']));
    expect(kept).toHaveLength(6);
    expect(kept).toContain(`at://${did}/${newer.collection}/${newer.rkey}`);
    expect(kept.filter((uri) => missed.some((m) => uri.endsWith(`/${m.collection}/${m.rkey}`)))).toEqual([]);
  });

  it('the report counts the rows the backfill wrote: records the index already holds newer are stale, not created or updated', async () => {
    const did = 'did:plc:reportreportreportreport';
    const edited = { collection: 'app.bsky.feed.post', rkey: tid(3_000_000), record: post('in the CAR, edited live since') };
    const removed = { collection: 'app.bsky.feed.post', rkey: tid(3_000_001), record: post('in the CAR, deleted live since') };
    const behind = { collection: 'app.bsky.feed.post', rkey: tid(3_000_002), record: post('in the CAR, an older version indexed') };
    const refused = { collection: 'app.bsky.feed.post', rkey: tid(3_000_003), record: post('x'.repeat(400)) };
    const gone = { did, collection: 'app.bsky.feed.post', rkey: tid(3_000_004) };
    const repo = await buildSyntheticRepo(did, 5, [], [edited, removed, behind, refused]);
    pds.set(did, repo.car);
    plc.set(did, repoDoc(did, repo.didKey, pds.url));
    await new Promise((resolve) => setTimeout(resolve, 5));
    // Live events newer than the CAR (its rev is the time it was signed), indexed before the backfill runs.
    const newer = tid(Date.now() * 1000 * 1024);
    const live = { seq: 100, time: new Date().toISOString(), did, commit: fakeCid('report-commit'), rev: newer };
    const { outcomes } = await indexBatch([
      { type: 'create', ...live, collection: edited.collection, rkey: edited.rkey, cid: fakeCid('report-edit'), record: post('edited live') },
      { type: 'delete', ...live, collection: removed.collection, rkey: removed.rkey },
      write({ did, collection: behind.collection, rkey: behind.rkey, rev: 1, record: post('older') }),
      write({ ...gone, rev: 1, record: post('not in the CAR') }),
    ], db.ports);
    expect(outcomes).toEqual([{ status: 'ok' }, { status: 'ok' }, { status: 'ok' }, { status: 'ok' }]);
    // A record the CAR no longer has is edited live just after the backfill read the rows: its removal loses.
    const sql = after('select uri, rev from record where did', () =>
      indexBatch([{ type: 'update', ...live, seq: 101, collection: gone.collection, rkey: gone.rkey, cid: fakeCid('report-gone'), record: post('edited live') }], db.ports));
    const { reports } = await backfillRepos([{ did }], ports({ sql }));
    const report = reports[0]!;
    // The rows it wrote carry the CAR's rev; the live edit and the live delete stand.
    const written = await count(`select uri from record where did = $1 and rev = $2`, [did, report.rev!]);
    expect(written).toBe(6);
    expect(await db.sql.query(`select cid from record where uri = $1`, [`at://${did}/${edited.collection}/${edited.rkey}`])).toEqual([{ cid: fakeCid('report-edit') }]);
    expect(await count(`select uri from record where uri = $1`, [`at://${did}/${removed.collection}/${removed.rkey}`])).toBe(0);
    expect(await count(`select uri from record where uri = $1`, [`at://${did}/${refused.collection}/${refused.rkey}`])).toBe(0);
    expect(await count(`select uri from record where uri = $1`, [`at://${did}/${gone.collection}/${gone.rkey}`])).toBe(1);
    expect(report).toMatchObject({ status: 'synchronized', created: 5, updated: 1, unchanged: 0, stale: 3, deleted: 0, skipped: 1 });
    expect(report.created + report.updated).toBe(written);
  });

  it('an account back after a confirmed deletion keeps the writes it made while its repo downloaded', async () => {
    const did = 'did:plc:restorerestorerestoreres';
    await serve(did, 5);
    await purgeAccount(db.sql, did, new Date(Date.now() - 60_000).toISOString(), 'RepoNotFound');
    const pause = () => new Promise((resolve) => setTimeout(resolve, 5));
    await pause();
    // Written just after the CAR being served was cut; the PDS's next CAR holds it.
    const rkey = tid(Date.now() * 1000 * 1024);
    const uri = `at://${did}/app.bsky.feed.post/${rkey}`;
    const record = post('written while the repo downloaded');
    const live = {
      type: 'create' as const, seq: 100, time: new Date().toISOString(), did, commit: fakeCid('restore-commit'),
      rev: tid(Date.now() * 1000 * 1024), collection: 'app.bsky.feed.post', rkey, cid: fakeCid('restore-write'), record,
    };
    await pause();
    const next = await buildSyntheticRepo(did, 5, [], [{ collection: 'app.bsky.feed.post', rkey, record }]);
    // The live consumer meets the write while the first CAR downloads: the deletion marker still stands.
    const fetch = fetchThen('getRepo', async () => {
      expect((await indexBatch([live], db.ports)).outcomes).toEqual([{ status: 'ok' }]);
      expect(await count(`select uri from record where uri = $1`, [uri])).toBe(0);
      pds.set(did, next.car);
      plc.set(did, repoDoc(did, next.didKey, pds.url));
    });
    const { reports } = await backfillRepos([{ did }], ports({ fetch }));
    expect(reports[0]).toMatchObject({ status: 'synchronized', created: 6 });
    expect(pds.requests.get(did)).toBe(2);
    expect(await count(`select uri from record where uri = $1`, [uri])).toBe(1);
    expect(await count(`select uri from post where uri = $1`, [uri])).toBe(1);
    expect(await db.sql.query(`select status from repo_sync where did = $1`, [did])).toEqual([{ status: 'synchronized' }]);
  });
});

// What a PDS answers about the account (a repo served: active; RepoDeactivated and the like: that status) is the
// account as of when getRepo was asked, not when the download ended: an #account the live path indexed in between
// is newer, and stands (backfill-repo/account.ts).
describe('account changes during a backfill', () => {
  const accountOf = async (did: string) => ({
    state: await db.sql.query(`select active, status from account_state where did = $1`, [did]),
    actor: await db.sql.query(`select "upstreamStatus" from actor where did = $1`, [did]),
  });
  const liveAccount = (did: string, active: boolean, status?: string) =>
    indexBatch([{ type: 'account', seq: 100, time: new Date().toISOString(), did, active, ...(status === undefined ? {} : { status }) }], db.ports);
  const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

  it('an account deactivated after its PDS served the repo stays deactivated, and keeps the records it had', async () => {
    const did = 'did:plc:deactivateddeactivatedde';
    await serve(did, 5);
    const fetch = fetchThen('getRepo', async () => {
      await tick();
      expect((await liveAccount(did, false, 'deactivated')).outcomes).toEqual([{ status: 'ok' }]);
      await tick();
    });
    const { reports } = await backfillRepos([{ did }], ports({ fetch }));
    expect(reports[0]).toMatchObject({ status: 'synchronized', created: 5 });
    expect(await accountOf(did)).toEqual({ state: [{ active: false, status: 'deactivated' }], actor: [{ upstreamStatus: 'deactivated' }] });
    // Written while the account was active, as the CAR shows: the stream in order would have indexed them.
    expect(await count(`select uri from record where did = $1`, [did])).toBe(5);
  });

  it('an account reactivated after its PDS answered RepoDeactivated stays active', async () => {
    const did = 'did:plc:reactivatedreactivatedre';
    const repo = await serve(did, 5);
    pds.set(did, { error: 'RepoDeactivated' });
    const fetch = fetchThen('getRepo', async () => {
      await tick();
      expect((await liveAccount(did, true)).outcomes).toEqual([{ status: 'ok' }]);
      pds.set(did, repo.car);
      await tick();
    });
    const { reports } = await backfillRepos([{ did }], ports({ fetch }));
    expect(reports[0]).toMatchObject({ status: 'unavailable', reason: 'RepoDeactivated' });
    expect(await accountOf(did)).toEqual({ state: [{ active: true, status: null }], actor: [{ upstreamStatus: null }] });
  });

  it('an account reactivated while its PDS answered RepoNotFound is not purged: the reactivation and its new post stand', async () => {
    const did = 'did:plc:notfoundreactivatednotfo';
    await serve(did, 1);
    pds.set(did, { error: 'RepoNotFound' });
    const old = write({ did, collection: 'app.bsky.feed.post', rkey: '3jzfcijpj2z2a', rev: 1, record: post('before the deletion') });
    expect((await indexBatch([old, { type: 'account', seq: 3, time: new Date(Date.now() - 60_000).toISOString(), did, active: false, status: 'deleted' }], db.ports)).resync)
      .toEqual([{ did, reason: 'account_deleted' }]);
    // The deletion's resync sends getRepo; the PDS's answer (RepoNotFound, decided as the request arrives) comes only
    // after the live path has indexed the account's reactivation and a post it made then.
    const rkey = tid(Date.now() * 1000 * 1024);
    const uri = `at://${did}/app.bsky.feed.post/${rkey}`;
    const held = pds.hold(did, async () => {
      await tick();
      expect((await liveAccount(did, true)).resync).toEqual([{ did, reason: 'account_active' }]);
      const made = {
        type: 'create' as const, seq: 101, time: new Date().toISOString(), did, commit: fakeCid('notfound-commit'),
        rev: tid(Date.now() * 1000 * 1024), collection: 'app.bsky.feed.post', rkey, cid: fakeCid('notfound-write'), record: post('back again'),
      };
      expect((await indexBatch([made], db.ports)).outcomes).toEqual([{ status: 'ok' }]);
      expect(await count(`select uri from post where uri = $1`, [uri])).toBe(1);
    });
    const { outcomes, reports } = await backfillRepos([{ did, reason: 'account_deleted' }], ports());
    await held;
    expect(outcomes).toEqual([{ status: 'ok' }]);
    expect(reports[0]).toMatchObject({ status: 'unavailable', reason: 'RepoNotFound', deleted: 0 });
    expect(await accountOf(did)).toEqual({ state: [{ active: true, status: null }], actor: [{ upstreamStatus: null }] });
    expect(await count(`select uri from record where did = $1`, [did])).toBe(2);
    expect(await count(`select uri from post where uri = $1`, [uri])).toBe(1);
    expect(await db.sql.query(`select status, reason from repo_sync where did = $1`, [did])).toEqual([{ status: 'desynchronized', reason: 'RepoNotFound' }]);
    // The reactivation's own resync asks again, later than it: RepoNotFound still, and now the deletion is confirmed.
    expect((await backfillRepos([{ did, reason: 'account_active' }], ports())).reports[0]).toMatchObject({ status: 'unavailable', reason: 'RepoNotFound', deleted: 2 });
    expect(await count(`select uri from record where did = $1`, [did])).toBe(0);
    expect(await db.sql.query(`select status from repo_sync where did = $1`, [did])).toEqual([{ status: 'deleted' }]);
  });
});

// The handle a backfill stores yields to one an #identity stored after the backfill fetched its DID document
// (backfill-repo/account.ts, migration 0013), and the backfill fetches that document once.
describe.each(WRITE_MODES)('handles during a backfill (write mode %s)', (mode) => {
  let hdb: IndexDb;
  beforeAll(async () => {
    hdb = await createIndexDb(`backfill_handles_${mode}`, mode);
  });
  afterAll(async () => {
    await hdb?.close();
  });

  const handleOf = async (did: string) => hdb.sql.query(`select handle from actor where did = $1`, [did]);
  /** A served repo whose DID document names `handle`, and its document with another handle. */
  async function account(did: string, handle: string) {
    const repo = await serve(did, 3);
    const doc = (h: string) => ({ ...repoDoc(did, repo.didKey, pds.url), alsoKnownAs: [`at://${h}`] });
    plc.set(did, doc(handle));
    return doc;
  }
  /** DNS naming `did` for `handle` only. */
  const dnsFor = (did: string, handle: string): HandleResolver => ({ resolve: async (h) => (h === handle ? did : undefined) });
  const identity = () => createIdentityResolver({ fetch: globalThis.fetch, plcUrl: plc.url, allowPrivate: true });
  /** The live consumer indexing the DID's #identity, verified with a document fetched now. */
  const liveIdentity = (did: string, handle: string, handles: HandleResolver) =>
    indexBatch([{ type: 'identity', seq: 100, time: new Date().toISOString(), did, handle }], { ...hdb.ports, identity: identity(), handles });

  it('a handle changed while the repo downloads: the backfill stores the new one, not the one its download began with', async () => {
    const did = 'did:plc:handlehandlehandlehandle';
    const doc = await account(did, 'old.example.com');
    // DNS after the change: new.example.com names the DID, old.example.com nothing.
    const handles = dnsFor(did, 'new.example.com');
    // The user changes handle while the CAR downloads; the live consumer indexes the #identity at once.
    const fetch = fetchThen('getRepo', async () => {
      plc.set(did, doc('new.example.com'));
      await liveIdentity(did, 'new.example.com', handles);
      expect(await handleOf(did)).toEqual([{ handle: 'new.example.com' }]);
    });
    const { reports } = await backfillRepos([{ did }], ports({ fetch, identity: identity(), handles }, hdb));
    expect(reports[0]).toMatchObject({ status: 'synchronized' });
    expect(await handleOf(did)).toEqual([{ handle: 'new.example.com' }]);
  });

  it('a backfilled repo costs one DID document fetch, its handle verified and stored', async () => {
    const did = 'did:plc:onefetchonefetchonefetch';
    await account(did, 'once.example.com');
    const before = plc.requests.get(did) ?? 0;
    const { reports } = await backfillRepos([{ did }], ports({ identity: identity(), handles: dnsFor(did, 'once.example.com') }, hdb));
    expect(reports[0]).toMatchObject({ status: 'synchronized', created: 3 });
    expect((plc.requests.get(did) ?? 0) - before).toBe(1);
    expect(await handleOf(did)).toEqual([{ handle: 'once.example.com' }]);
  });

  it('a handle an #identity stored before the backfill fetched its document does not hold back the newer one it names', async () => {
    const did = 'did:plc:earlierearlierearlierear';
    const doc = await account(did, 'first.example.com');
    await liveIdentity(did, 'first.example.com', dnsFor(did, 'first.example.com'));
    expect(await handleOf(did)).toEqual([{ handle: 'first.example.com' }]);
    // Changed again; its #identity not indexed yet when the backfill runs.
    plc.set(did, doc('second.example.com'));
    const handles = dnsFor(did, 'second.example.com');
    const { reports } = await backfillRepos([{ did }], ports({ identity: identity(), handles }, hdb));
    expect(reports[0]).toMatchObject({ status: 'synchronized' });
    expect(await handleOf(did)).toEqual([{ handle: 'second.example.com' }]);
  });

  it('a backfill storing its handle while an #identity batch holds a newer one uncommitted waits for that batch, and keeps its handle', async () => {
    const did = 'did:plc:waitwaitwaitwaitwaitwait';
    const doc = await account(did, 'old.example.com');
    const handles = dnsFor(did, 'new.example.com');
    // The backfill's document, fetched before the handle changed.
    const tick = await documentTick(hdb.sql);
    const before = await identity().resolve(did, { forceRefresh: true });
    plc.set(did, doc('new.example.com'));
    // The live batch has stored the new handle and not committed yet when the backfill stores its own.
    let backfill: Promise<void> | undefined;
    const sql = pausedAfter(hdb.sql, 'update actor set handle = x.handle', async () => {
      backfill = refreshHandle(before, tick, { ...hdb.ports, identity: identity(), handles });
      await new Promise((resolve) => setTimeout(resolve, 300));
    });
    await indexBatch([{ type: 'identity', seq: 100, time: new Date().toISOString(), did, handle: 'new.example.com' }], { ...hdb.ports, sql, identity: identity(), handles });
    expect(backfill).toBeDefined();
    await backfill;
    expect(await handleOf(did)).toEqual([{ handle: 'new.example.com' }]);
  });

  it('a handle_unverified recheck whose document was fetched before an #identity was indexed keeps the live handle', async () => {
    const did = 'did:plc:recheckrecheckrecheckrec';
    const doc = await account(did, 'old.example.com');
    await backfillRepos([{ did }], ports({ identity: identity(), handles: dnsFor(did, 'old.example.com') }, hdb));
    expect(await handleOf(did)).toEqual([{ handle: 'old.example.com' }]);
    const handles = dnsFor(did, 'new.example.com');
    // The recheck's document comes back naming the old handle; the handle changes and is indexed live right after.
    const fetch = fetchThen(encodeURIComponent(did), async () => {
      plc.set(did, doc('new.example.com'));
      await liveIdentity(did, 'new.example.com', handles);
    });
    const recheck = createIdentityResolver({ fetch, plcUrl: plc.url, allowPrivate: true });
    const { reports } = await backfillRepos([{ did, reason: 'handle_unverified' }], ports({ identity: recheck, handles }, hdb));
    expect(reports[0]).toMatchObject({ status: 'identity' });
    expect(await handleOf(did)).toEqual([{ handle: 'new.example.com' }]);
  });
});
