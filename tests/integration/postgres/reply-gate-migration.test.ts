// Migration 0021 on replies indexed before it: each reply under a root with a thread-gate history gets the version it
// was judged under, so the first edit of that gate after the upgrade does not judge them all again by today's follows
// (found in review: without the data step, a follower who had replied and unfollowed since lost the reply's count and
// notification at the first hide after the upgrade, every existing thread alike).
import { describe, expect, it } from 'vitest';
import { applyMigrations, DEFAULT_MIGRATIONS_DIR } from '../../../adapters/postgres/migrate.ts';
import { noMetrics, silentLog, systemClock } from '../../../functions/ports.ts';
import { indexBatch } from '../../../functions/index/handler.ts';
import { beforeMigration } from '../../helpers/migration-step.ts';
import { fakeCid, uriOf, write } from '../../helpers/events.ts';

const ALICE = 'did:plc:alice00000000000000000000';
const BOB = 'did:plc:bob0000000000000000000000';
const CAROL = 'did:plc:carol000000000000000000000';
const T = (s: number) => new Date(Date.parse('2026-01-01T00:00:00.000Z') + s * 1000).toISOString();
const ROOT = uriOf(ALICE, 'app.bsky.feed.post', 'r');
const FOLLOWERS = { $type: 'app.bsky.feed.threadgate', post: ROOT, allow: [{ $type: 'app.bsky.feed.threadgate#followerRule' }], createdAt: T(11) };

describe('migration 0021 on replies indexed before it', () => {
  it('notes the gate each was judged under, so an edit of the gate after the upgrade keeps their verdicts', async () => {
    await beforeMigration('0021_reply_gate.sql', async (sql, migrate) => {
      const post = (uri: string, creator: string, createdAt: string, violates: boolean | null) => sql.query(
        `insert into post (uri, cid, creator, text, "replyRoot", "replyRootCid", "replyParent", "replyParentCid", "createdAt", "indexedAt", "violatesThreadGate")
         values ($1, $2, $3, 'x', $4, $5, $4, $5, $6, $6, $7)`,
        [uri, fakeCid(uri), creator, uri === ROOT ? null : ROOT, uri === ROOT ? null : fakeCid(ROOT), createdAt, violates],
      );
      await post(ROOT, ALICE, T(10), null);
      // Bob followed Alice when he replied (allowed); Carol never did; Dan replied before the gate.
      await post(uriOf(BOB, 'app.bsky.feed.post', 'b'), BOB, T(13), null);
      await post(uriOf(CAROL, 'app.bsky.feed.post', 'c'), CAROL, T(14), true);
      await post(uriOf(CAROL, 'app.bsky.feed.post', 'early'), CAROL, T(9), null);
      const gateCid = fakeCid('gate-1');
      await sql.query(`insert into gate_version (kind, "postUri", cid, "createdAt", json) values ('thread', $1, $2, $3, $4)`, [ROOT, gateCid, T(11), JSON.stringify(FOLLOWERS)]);
      expect(await migrate()).toEqual(['0021_reply_gate.sql']);
      expect(await sql.query(`select uri, "gateCid" from reply_gate order by uri`)).toEqual([
        { uri: uriOf(BOB, 'app.bsky.feed.post', 'b'), gateCid },
        { uri: uriOf(CAROL, 'app.bsky.feed.post', 'c'), gateCid },
        { uri: uriOf(CAROL, 'app.bsky.feed.post', 'early'), gateCid: '' },
      ]);
      await applyMigrations(sql, DEFAULT_MIGRATIONS_DIR);
      // Alice hides Carol's reply: a new version, created now. Bob no longer follows her (no follow row).
      await indexBatch([write({ did: ALICE, collection: 'app.bsky.feed.threadgate', rkey: 'r', rev: 30, record: { ...FOLLOWERS, hiddenReplies: [uriOf(CAROL, 'app.bsky.feed.post', 'c')], createdAt: T(30) } })],
        { sql, clock: systemClock, log: silentLog, metrics: noMetrics });
      expect(await sql.query(`select uri, "violatesThreadGate" from post where "replyRoot" is not null order by uri`)).toEqual([
        { uri: uriOf(BOB, 'app.bsky.feed.post', 'b'), violatesThreadGate: null },
        { uri: uriOf(CAROL, 'app.bsky.feed.post', 'c'), violatesThreadGate: true },
        { uri: uriOf(CAROL, 'app.bsky.feed.post', 'early'), violatesThreadGate: null },
      ]);
    });
  });
});
