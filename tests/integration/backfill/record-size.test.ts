// A record over MAX_RECORD_BYTES (1 MiB, indigo's limit) but under the 2 MiB block cap: the live path drops it
// (record_too_big), and a backfill indexed it, so the index differed by the path a record came by. Now a backfill skips
// it too, and keeps the version before it, as the live path keeps it when such an update is dropped (it took the
// record it could not use for a delete it had missed).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Secp256k1Keypair } from '@atproto/crypto';
import { Repo, MemoryBlockstore, WriteOpAction, blocksToCarFile } from '@atproto/repo';
import { backfillRepos, type BackfillPorts } from '../../../functions/backfill-repo/handler.ts';
import { decodeRepoFrame } from '../../../functions/atproto/repo-frame.ts';
import { MAX_RECORD_BYTES } from '../../../functions/atproto/limits.ts';
import { createIdentityResolver } from '../../../adapters/identity/resolver.ts';
import { noMetrics, silentLog, systemClock } from '../../../functions/ports.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { startFakePlc, type FakePlc } from '../../helpers/fake-plc.ts';
import { repoDoc, startFakePds, type FakePds } from '../../helpers/fake-pds.ts';
import { buildCommitFrame } from '../../helpers/frames.ts';

let db: IndexDb;
let plc: FakePlc;
let pds: FakePds;

beforeAll(async () => {
  db = await createIndexDb('record_size');
  plc = await startFakePlc();
  pds = await startFakePds();
});
afterAll(async () => {
  await pds?.close();
  await plc?.close();
  await db?.close();
});

const ports = (): BackfillPorts => ({
  clock: systemClock, log: silentLog, metrics: noMetrics, sql: db.sql, fetch: globalThis.fetch, timeoutMs: 20_000,
  identity: createIdentityResolver({ fetch: globalThis.fetch, plcUrl: plc.url, allowPrivate: true }),
});
const post = (text: string, pad = 0) => ({ $type: 'app.bsky.feed.post', text, createdAt: '2026-01-01T00:00:00.000Z', ...(pad > 0 ? { pad: 'x'.repeat(pad) } : {}) });

describe('a record over 1 MiB', () => {
  it('is dropped by a backfill as by the live path, and the version before it stays', async () => {
    const did = 'did:plc:bigrecordbigrecordbigrec';
    const rkey = '3kbigrecord22';
    const big = post('big', MAX_RECORD_BYTES + 200_000);
    // The live path on the same record.
    const built = await buildCommitFrame({ seq: 1, did, rev: '3kbigrecord22', ops: [{ action: 'create', collection: 'app.bsky.feed.post', rkey, record: big }] });
    expect(await decodeRepoFrame(built.frame)).toMatchObject({ kind: 'sequenced', events: [], dropped: [{ reason: 'record_too_big', count: 1 }] });

    const keypair = await Secp256k1Keypair.create({ exportable: true });
    const storage = new MemoryBlockstore();
    const repo = await Repo.create(storage, did, keypair, [{ action: WriteOpAction.Create, collection: 'app.bsky.feed.post', rkey, record: post('small') } as never]);
    plc.set(did, repoDoc(did, keypair.did(), pds.url));
    pds.set(did, await blocksToCarFile(repo.cid, storage.blocks));
    expect((await backfillRepos([{ did }], ports())).outcomes).toEqual([{ status: 'ok' }]);
    expect(await db.sql.query(`select text from post where creator = $1`, [did])).toEqual([{ text: 'small' }]);

    // Updated to the big record: skipped, and the small one kept, not removed as a missed delete.
    const updated = await repo.applyWrites([{ action: WriteOpAction.Update, collection: 'app.bsky.feed.post', rkey, record: big } as never], keypair);
    pds.set(did, await blocksToCarFile(updated.cid, storage.blocks));
    const { outcomes, reports } = await backfillRepos([{ did }], ports());
    expect(outcomes).toEqual([{ status: 'ok' }]);
    expect(reports[0]).toMatchObject({ status: 'synchronized', skipped: 1, deleted: 0, created: 0, updated: 0 });
    expect(await db.sql.query(`select text from post where creator = $1`, [did])).toEqual([{ text: 'small' }]);
  }, 60_000);
});
