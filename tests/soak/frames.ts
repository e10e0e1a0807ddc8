// The soak's commits: realistic creates (posts, likes, follows) over 2,000 repos, each a pure function of its seq.
import { encodeCbor } from '../../functions/atproto/cbor.ts';
import { cidForCbor } from '../../functions/atproto/cid.ts';
import { encodeCar, encodeFrame } from '../helpers/frames.ts';

const S32 = '234567abcdefghijklmnopqrstuvwxyz';

export function tidOfMicros(micros: bigint): string {
  let v = micros << 10n;
  let out = '';
  for (let i = 0; i < 13; i++) {
    out = S32[Number(v % 32n)] + out;
    v /= 32n;
  }
  return out;
}

/** A did:plc of 24 base32 characters for repo `n`. */
function didOf(n: number): string {
  let s = '';
  let v = n;
  for (let i = 0; i < 24; i++) {
    s = S32[v % 32] + s;
    v = Math.floor(v / 32);
  }
  return `did:plc:${s}`;
}

const REPOS = 2000;
const COLLECTIONS = ['app.bsky.feed.post', 'app.bsky.feed.like', 'app.bsky.graph.follow'] as const;
/** Realistic shares of creates: mostly posts and likes, some follows. */
export const collectionOf = (seq: number) => (seq % 20 < 10 ? COLLECTIONS[0] : seq % 20 < 17 ? COLLECTIONS[1] : COLLECTIONS[2]);

/** The commit frame of `seq`: a pure function of seq, so a reconnect replays exactly what was sent. */
export async function commitFrame(seq: number, epochMicros: bigint): Promise<Uint8Array> {
  const repo = didOf(seq % REPOS);
  const rev = tidOfMicros(epochMicros + BigInt(seq));
  const collection = collectionOf(seq);
  const createdAt = new Date(Number(epochMicros / 1000n) + seq).toISOString();
  const other = didOf((seq * 7 + 3) % REPOS);
  const record =
    collection === 'app.bsky.feed.post'
      ? { $type: collection, text: `soak post ${seq}: the quick brown fox jumps over the lazy dog`, langs: ['en'], createdAt }
      : collection === 'app.bsky.feed.like'
        ? { $type: collection, subject: { uri: `at://${other}/app.bsky.feed.post/${tidOfMicros(epochMicros + BigInt(seq - 1))}`, cid: 'bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454' }, createdAt }
        : { $type: collection, subject: other, createdAt };
  const recordBytes = encodeCbor(record);
  const recordCid = await cidForCbor(recordBytes);
  const node = encodeCbor({ l: null, e: [{ p: 0, k: new TextEncoder().encode(`${collection}/${rev}`), v: recordCid, t: null }] });
  const nodeCid = await cidForCbor(node);
  const commitBytes = encodeCbor({ did: repo, version: 3, data: nodeCid, rev, prev: null, sig: new Uint8Array(64) });
  const commitCid = await cidForCbor(commitBytes);
  const blocks = encodeCar(commitCid, [{ cid: commitCid, bytes: commitBytes }, { cid: nodeCid, bytes: node }, { cid: recordCid, bytes: recordBytes }]);
  return encodeFrame({ op: 1, t: '#commit' }, {
    seq, rebase: false, tooBig: false, repo, commit: commitCid, rev, since: null, blocks, blobs: [],
    ops: [{ action: 'create', path: `${collection}/${rev}`, cid: recordCid }], time: createdAt,
  });
}

