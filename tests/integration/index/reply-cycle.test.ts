// Two posts replying to each other (possible only with a made-up parent CID: the index does not check a strong ref's
// CID), under a root that is not indexed. The re-judgement of invalidReplyRoot judged both in one round from each
// other's old flags, so they swapped them for ever: found by a differential fuzz, a batch that ran about a million
// rounds, then failed, and was retried. A cycle is now invalid, whatever the batches, as the AppView leaves it when
// the posts come one at a time; a reply below it follows.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { indexBatch } from '../../../functions/index/handler.ts';
import { judgeReplyRoots } from '../../../functions/index/reply-roots.ts';
import type { StreamEvent } from '../../../functions/events.ts';
import type { Sql, SqlExecutor } from '../../../functions/ports.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { at, fakeCid, post, uriOf, write } from '../../helpers/events.ts';

const ALICE = 'did:plc:alice00000000000000000000';
const POST = 'app.bsky.feed.post';

let db: IndexDb;
beforeAll(async () => {
  db = await createIndexDb('reply_cycle');
});
afterAll(async () => db.close());

/** The index's port, failing a batch past `max` statements: the loop ran about a million rounds before it gave up. */
function bounded(sql: Sql, max = 2_000): Sql {
  let statements = 0;
  const count = (x: SqlExecutor): SqlExecutor => ({
    ...x,
    query: (text, params) => {
      if (++statements > max) throw new Error(`more than ${max} statements: the re-judgement does not end`);
      return x.query(text, params);
    },
  });
  return { ...count(sql), transaction: (fn) => sql.transaction((tx) => fn(count(tx))) };
}

let rev = 0;
function cycle(tag: string): { x: StreamEvent; y: StreamEvent; z: StreamEvent; uris: string[] } {
  const root = { uri: uriOf(ALICE, POST, `${tag}root`), cid: fakeCid(`${tag}root`) };
  const ref = (rkey: string) => ({ uri: uriOf(ALICE, POST, `${tag}${rkey}`), cid: fakeCid(`${tag}${rkey}-any`) });
  const reply = (rkey: string, parent: string) =>
    write({ did: ALICE, collection: POST, rkey: `${tag}${rkey}`, rev: ++rev, record: post(rkey, { createdAt: at(rev), reply: { root, parent: ref(parent) } }) });
  return { x: reply('x', 'y'), y: reply('y', 'x'), z: reply('z', 'y'), uris: ['x', 'y', 'z'].map((k) => uriOf(ALICE, POST, `${tag}${k}`)) };
}

const flags = async (uris: string[]) =>
  (await db.sql.query(`select uri, "invalidReplyRoot" from post where uri = any($1::text[]) order by uri`, [uris])).map((r) => r['invalidReplyRoot']);

describe('index: a cycle of replies', () => {
  it('one post at a time, and all in one batch: ends, every post of the cycle and below it invalid', async () => {
    const ports = { ...db.ports, sql: bounded(db.sql) };
    const a = cycle('a');
    for (const e of [a.x, a.y, a.z]) await indexBatch([e], ports);
    expect(await flags(a.uris)).toEqual([true, true, true]);
    const b = cycle('b');
    await indexBatch([b.x, b.y, b.z], { ...db.ports, sql: bounded(db.sql) });
    expect(await flags(b.uris)).toEqual([true, true, true]);
  });

  it('indexed before the check, with flags that disagree, re-judged together: ends after a bounded number of rounds, invalid', async () => {
    const c = cycle('c');
    await indexBatch([c.x, c.y, c.z], db.ports);
    await db.sql.query(`update post set "invalidReplyRoot" = null, "violatesThreadGate" = null where uri = $1`, [c.uris[0]!]);
    // Judged as replies only (nothing written now): the check before the first round does not run.
    await bounded(db.sql).transaction((tx) => judgeReplyRoots(tx, [c.uris[0]!, c.uris[1]!], [], []));
    expect(await flags(c.uris)).toEqual([true, true, true]);
  });
});
