// An event's `time` orders its account's status changes and dates its records, so the firehose adapter never lets an
// upstream clock date one later than when it arrived plus the allowed drift: such an event is kept, dated when it was
// received, and counted (`future_time`). Without that, one `#account` dated in the year 9999 outranked every later
// change of its account: a relay's takedown after it was stale, and the account stayed active in the index.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseStreamEvent, type StreamEvent } from '../../../functions/events.ts';
import { indexBatch } from '../../../functions/index/handler.ts';
import { checkRows } from '../../../functions/sql-rows.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { useFirehoseHarness } from '../../helpers/firehose-harness.ts';
import { accountFrame, buildCommitFrame, identityFrame } from '../../helpers/frames.ts';
import { waitFor } from '../../helpers/wait.ts';
import { tid } from '../../helpers/events.ts';

const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';
const POST = { $type: 'app.bsky.feed.post', text: 'hi', createdAt: '2026-01-01T00:00:00.000Z' };

const h = useFirehoseHarness('future_time');
let db: IndexDb;

beforeAll(async () => {
  db = await createIndexDb('future_time');
});
afterAll(async () => {
  await db.close();
});

describe('an event dated in the future', () => {
  it('is kept, dated when it was received, and counted, so a later takedown of its account still applies', async () => {
    const before = new Date().toISOString();
    // A PDS whose clock is far ahead (or lies): its #account, #identity and commit are dated in the future.
    h.relay.append(1, accountFrame(1, DID, true, undefined, '9999-01-01T00:00:00.000Z'));
    h.relay.append(2, identityFrame(2, DID, 'alice.test', '+010000-01-01T00:00:00.000Z'));
    h.relay.append(3, (await buildCommitFrame({ seq: 3, did: DID, rev: tid(1), time: '9000-01-01T00:00:00.000Z', ops: [{ action: 'create', collection: 'app.bsky.feed.post', rkey: 'a', record: POST }] })).frame);
    // The relay's takedown, by its own clock (a little ahead of ours: within the allowed drift, kept as it is).
    const takedownAt = new Date(Date.now() + 60_000).toISOString();
    h.relay.append(4, accountFrame(4, DID, false, 'takendown', takedownAt));
    const run = h.start({ batchSize: 10 });
    await waitFor(h.cursor, (c) => c === '4', 'cursor 4');
    const after = new Date().toISOString();

    const events = (await h.events()).map((entry) => {
      const parsed = parseStreamEvent(entry);
      if (!parsed.ok) throw new Error(parsed.message);
      return parsed.value;
    });
    expect(events.map((e) => e.type)).toEqual(['account', 'identity', 'create', 'account']);
    for (const e of events.slice(0, 3)) {
      expect(e.time >= before && e.time <= after, `${e.type} dated ${e.time}, received between ${before} and ${after}`).toBe(true);
    }
    expect(events[3]?.time).toBe(takedownAt);
    expect(await run.errors('future_time')).toBe(3);

    // Indexed, the takedown is the account's last change: the far-future "active" no longer outranks it.
    await indexBatch(events as StreamEvent[], db.ports);
    const actor = checkRows(await db.sql.query(`select "upstreamStatus" as s from actor where did = $1`, [DID]), { s: 'string?' });
    expect(actor[0]?.s).toBe('takendown');
  });
});
