// invalidReplyRoot down a deep thread, against real Postgres. A reply is invalid when its parent is missing or itself
// invalid, so a post that goes (or comes back) changes every reply below it, however deep. The re-judgement once
// stopped after 64 levels per batch, leaving the replies deeper than that with a flag that no later batch revisited:
// in a thread 200 deep, 135 replies stayed valid under a deleted post.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { indexBatch } from '../../../functions/index/handler.ts';
import type { JsonObject, StreamEvent } from '../../../functions/events.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { at, del, post, uriOf, write } from '../../helpers/events.ts';

const ALICE = 'did:plc:alice00000000000000000000';
const BOB = 'did:plc:bob0000000000000000000000';
const POST = 'app.bsky.feed.post';
const DEPTH = 200;

let db: IndexDb;
beforeAll(async () => {
  db = await createIndexDb('deep_threads');
});
afterAll(async () => db.close());

let rev = 0;
const rkey = (i: number) => `p${String(i).padStart(4, '0')}`;

/** The root (Alice's) and DEPTH replies (Bob's), each to the one before, in one thread. */
function thread(): StreamEvent[] {
  const events: StreamEvent[] = [];
  const refs: { uri: string; cid: string }[] = [];
  for (let i = 0; i <= DEPTH; i++) {
    const did = i === 0 ? ALICE : BOB;
    const reply: JsonObject = i === 0 ? {} : { reply: { root: refs[0]!, parent: refs[i - 1]! } };
    const e = write({ did, collection: POST, rkey: rkey(i), rev: ++rev, record: post(`post ${i}`, { createdAt: at(i), ...reply }) });
    events.push(e);
    refs.push({ uri: uriOf(did, POST, rkey(i)), cid: (e as { cid: string }).cid });
  }
  return events;
}

const invalidCount = async (): Promise<number> => {
  const [row] = await db.sql.query(`select count(*)::int as n from post where "invalidReplyRoot"`);
  return (row as { n: number }).n;
};

describe('index: invalidReplyRoot in a thread deeper than a batch used to follow', () => {
  it(`a reply ${DEPTH} levels deep follows a delete at the top, and the post coming back`, async () => {
    const events = thread();
    await indexBatch(events, db.ports);
    expect(await invalidCount()).toBe(0);
    // The first reply goes: every reply below it is left without a valid chain.
    await indexBatch([del({ did: BOB, collection: POST, rkey: rkey(1), rev: ++rev })], db.ports);
    expect(await invalidCount()).toBe(DEPTH - 1);
    const [deepest] = await db.sql.query(`select "invalidReplyRoot" from post where uri = $1`, [uriOf(BOB, POST, rkey(DEPTH))]);
    expect(deepest).toEqual({ invalidReplyRoot: true });
    // Written again: the whole chain is valid once more.
    const { record } = events[1] as StreamEvent & { record: JsonObject };
    await indexBatch([write({ did: BOB, collection: POST, rkey: rkey(1), rev: ++rev, record })], db.ports);
    expect(await invalidCount()).toBe(0);
  });
});
