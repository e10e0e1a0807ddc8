// Decode path: subscribeRepos frame bytes -> per-op records as JSON-ready values. Ours (@atcute/cbor, our CAR splitter and lex-JSON decoder, with the
// record-block hash check and syntax checks) beside the @atproto reference path (xrpc-server Frame +
// @atproto/sync parseCommitUnauthenticated + lexToJson) and an @atcute/cbor + @atcute/car path doing the same work.
import { readdirSync, readFileSync } from 'node:fs';
import { Frame } from '@atproto/xrpc-server';
import { parseCommitUnauthenticated } from '@atproto/sync';
import { lexToJson } from '@atproto/lexicon';
import * as atcuteCbor from '@atcute/cbor';
import * as atcuteCar from '@atcute/car';
import { decodeRepoFrame } from '../../functions/atproto/repo-frame.ts';
import { lexToCbor } from '../../functions/atproto/lex-json.ts';
import type { JsonValue } from '../../functions/events.ts';
import { buildCommitFrame, encodeFrame, type OpSpec } from '../helpers/frames.ts';
import { tid } from '../helpers/events.ts';
import { compareOpsPerSecond } from './measure.ts';
import type { BenchRow } from './types.ts';

const FIXTURES = new URL('../fixtures/indigo/atproto/repo/testdata/', import.meta.url);

async function corpus(): Promise<Uint8Array[]> {
  const frames: Uint8Array[] = [];
  for (const f of readdirSync(FIXTURES).filter((n) => n.startsWith('firehose_commit_'))) {
    const body = lexToCbor(JSON.parse(readFileSync(new URL(f, FIXTURES), 'utf8')) as JsonValue) as Record<string, unknown>;
    frames.push(encodeFrame({ op: 1, t: '#commit' }, body));
  }
  // Real-format commits shaped like network traffic: mostly one op (likes, follows, posts), some multi-op.
  for (let i = 0; i < 2000; i++) {
    const did = `did:plc:${(1e6 + (i % 300)).toString(36).padStart(24, 'a')}`;
    const n = i % 20 === 0 ? 5 : 1;
    const ops: OpSpec[] = Array.from({ length: n }, (_, j): OpSpec => {
      const kind = (i + j) % 3;
      return kind === 0
        ? { action: 'create' as const, collection: 'app.bsky.feed.post', rkey: tid(i * 10 + j), record: { $type: 'app.bsky.feed.post', text: `post ${i} with some text that looks like a real post #${j}`, langs: ['en'], createdAt: '2026-01-01T00:00:00.000Z' } }
        : kind === 1
          ? { action: 'create' as const, collection: 'app.bsky.feed.like', rkey: tid(i * 10 + j), record: { $type: 'app.bsky.feed.like', subject: { uri: `at://${did}/app.bsky.feed.post/${tid(i)}`, cid: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' }, createdAt: '2026-01-01T00:00:00.000Z' } }
          : { action: 'create' as const, collection: 'app.bsky.graph.follow', rkey: tid(i * 10 + j), record: { $type: 'app.bsky.graph.follow', subject: did, createdAt: '2026-01-01T00:00:00.000Z' } };
    });
    frames.push((await buildCommitFrame({ seq: i + 1, did, rev: tid(1e6 + i), ops })).frame);
  }
  return frames;
}

async function oursPath(frames: Uint8Array[]): Promise<number> {
  let records = 0;
  for (const f of frames) {
    const out = await decodeRepoFrame(f);
    if (out.kind === 'sequenced') records += out.events.length;
  }
  return records;
}

async function atprotoPath(frames: Uint8Array[]): Promise<number> {
  let records = 0;
  for (const f of frames) {
    const frame = Frame.fromBytes(f);
    if (!frame.isMessage()) continue;
    const evts = await parseCommitUnauthenticated(frame.body as never);
    for (const e of evts) if ('record' in e && e.record !== undefined) (lexToJson(e.record as never), records++);
  }
  return records;
}

function atcutePath(frames: Uint8Array[]): number {
  let records = 0;
  for (const f of frames) {
    const [header, rest] = atcuteCbor.decodeFirst(f) as [Record<string, unknown>, Uint8Array];
    if (header['op'] !== 1) continue;
    const body = atcuteCbor.decode(rest) as { blocks: atcuteCbor.Bytes; ops: { action: string; path: string; cid: atcuteCbor.CidLink | null }[] };
    const blocks = new Map<string, Uint8Array>();
    for (const entry of atcuteCar.fromUint8Array(atcuteCbor.fromBytes(body.blocks))) blocks.set(atcuteCbor.toCidLink(entry.cid).$link, entry.bytes);
    for (const op of body.ops) {
      if (op.cid === null) continue;
      const bytes = blocks.get(op.cid.$link);
      if (bytes === undefined) continue;
      JSON.parse(JSON.stringify(atcuteCbor.decode(bytes)));
      records++;
    }
  }
  return records;
}

export async function runDecodeBench(): Promise<BenchRow[]> {
  const frames = await corpus();
  const perRun = frames.length;
  const { ours, atproto, atcute } = await compareOpsPerSecond({
    ours: async () => (await oursPath(frames), perRun),
    atproto: async () => (await atprotoPath(frames), perRun),
    atcute: () => (atcutePath(frames), perRun),
  });
  return [
    { name: 'decode: skytide (hash-checked)', unit: 'frames/s', value: ours, ratio: ours / atproto, baseline: '@atproto path', note: `${(ours / atcute).toFixed(2)}x @atcute path` },
    { name: 'decode: @atproto/sync parseCommitUnauthenticated', unit: 'frames/s', value: atproto, ratio: 1, baseline: '@atproto path' },
    { name: 'decode: @atcute/cbor + @atcute/car', unit: 'frames/s', value: atcute, ratio: atcute / atproto, baseline: '@atproto path' },
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const row of await runDecodeBench()) console.log(row);
}
