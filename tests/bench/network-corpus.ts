// A seeded stream of record events shaped like the network's firehose (issue 11): about 45% likes, 25% posts (30% of
// them replies, a quarter with embeds: images, links, quotes, quotes with images), 15% follows, 7% reposts, 3% blocks,
// 2% profile writes and 3% deletes of earlier records, by 2,000 accounts. Subjects are earlier posts of the stream
// (and a seed set that exists only as references, as on the network), CIDs are real CIDs, so the AppView's lexicon
// checks accept every record and both indexers get exactly the same events.
import { createHash } from 'node:crypto';
import { CID } from 'multiformats/cid';
import * as Digest from 'multiformats/hashes/digest';
import type { JsonObject, RecordDeleteEvent, RecordWriteEvent, StreamEvent } from '../../functions/events.ts';
import { createRandom } from '../helpers/seeded-random.ts';
import { tid } from '../helpers/events.ts';

export const NETWORK_DIDS = 2000;
const T0 = Date.parse('2026-06-01T00:00:00.000Z');

/** A real dag-cbor CIDv1 (sha-256) unique to `seed`. */
export function realCid(seed: string): string {
  const bytes = createHash('sha256').update(seed).digest();
  return CID.createV1(0x71, Digest.create(0x12, bytes)).toString();
}

const didOf = (n: number) => `did:plc:${realCid(`account${n}`).slice(-24)}`;

type StrongRef = { uri: string; cid: string };

type Post = StrongRef & { root?: StrongRef };

interface Live {
  did: string;
  collection: string;
  rkey: string;
  cid: string;
}

export interface NetworkCorpus {
  /** The next `count` events of the stream (seq and rev keep increasing across calls). */
  next(count: number): StreamEvent[];
}

export function networkCorpus(seed = 11): NetworkCorpus {
  const rng = createRandom(seed);
  const random = () => rng.next();
  const dids = Array.from({ length: NETWORK_DIDS }, (_, i) => didOf(i));
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  // Posts others may reply to, like, repost or quote: the latest few thousand, plus older ones never seen here. A
  // reply remembers its thread's root, so a reply to it names that root as clients do (the network has few invalid
  // roots; naming the parent as the root made every reply to a reply one, 30% of the corpus's replies).
  const posts: Post[] = Array.from({ length: 500 }, (_, i) => {
    const did = `did:plc:${realCid(`elsewhere${i}`).slice(-24)}`;
    return { uri: `at://${did}/app.bsky.feed.post/3kaaaaaaa${String(i).padStart(4, '2').replace(/[01089]/g, 'a')}`, cid: realCid(`old${i}`) };
  });
  const deletable: Live[] = [];
  const profiled = new Set<string>();
  let n = 0;

  const recentPost = () => posts[posts.length - 1 - Math.floor(random() * Math.min(posts.length, 5000))] as Post;
  const recent = (): StrongRef => {
    const { uri, cid } = recentPost();
    return { uri, cid };
  };

  /** A post's record, and its thread's root when it is a reply. */
  function postRecord(i: number): { record: JsonObject; root?: StrongRef } {
    const record: JsonObject = {
      $type: 'app.bsky.feed.post',
      text: `post ${i}: a line of text about the weather, a link, and what someone said earlier today`,
      langs: ['en'],
      createdAt: new Date(T0 + i * 10).toISOString(),
    };
    let root: StrongRef | undefined;
    if (random() < 0.3) {
      const parent = recentPost();
      root = parent.root ?? { uri: parent.uri, cid: parent.cid };
      record['reply'] = { root: { ...root }, parent: { uri: parent.uri, cid: parent.cid } };
    }
    if (random() < 0.25) {
      const image = { $type: 'blob', ref: { $link: realCid(`img${i}`).replace('bafyrei', 'bafkrei') }, mimeType: 'image/jpeg', size: 123_456 };
      const images = { $type: 'app.bsky.embed.images', images: [{ alt: 'a photo', image }] };
      const quoted = recent();
      switch (Math.floor(random() * 4)) {
        case 0:
          record['embed'] = images;
          break;
        case 1:
          record['embed'] = { $type: 'app.bsky.embed.external', external: { uri: `https://example.com/${i}`, title: 'A page', description: 'What it says' } };
          break;
        case 2:
          record['embed'] = { $type: 'app.bsky.embed.record', record: quoted };
          break;
        default:
          record['embed'] = { $type: 'app.bsky.embed.recordWithMedia', record: { $type: 'app.bsky.embed.record', record: quoted }, media: images };
      }
    }
    return root === undefined ? { record } : { record, root };
  }

  function one(): StreamEvent {
    const i = n++;
    const did = pick(dids);
    const rev = tid(1_000_000_000 + i);
    const base = { seq: i + 1, time: new Date(T0 + i * 10).toISOString(), did, commit: realCid(`commit${i}`), rev };
    const createdAt = base.time;
    const roll = random() * 100;
    if (roll < 3 && deletable.length > 0) {
      const at = Math.floor(random() * deletable.length);
      const gone = deletable[at] as Live;
      deletable[at] = deletable[deletable.length - 1] as Live;
      deletable.pop();
      const del: RecordDeleteEvent = { type: 'delete', ...base, did: gone.did, collection: gone.collection, rkey: gone.rkey };
      return del;
    }
    let collection: string;
    let record: JsonObject;
    let rkey = tid(2_000_000_000 + i);
    let root: StrongRef | undefined;
    if (roll < 48) {
      collection = 'app.bsky.feed.like';
      record = { $type: collection, subject: recent(), createdAt };
    } else if (roll < 73) {
      collection = 'app.bsky.feed.post';
      ({ record, root } = postRecord(i));
    } else if (roll < 88) {
      collection = 'app.bsky.graph.follow';
      record = { $type: collection, subject: pick(dids), createdAt };
    } else if (roll < 95) {
      collection = 'app.bsky.feed.repost';
      record = { $type: collection, subject: recent(), createdAt };
    } else if (roll < 98) {
      collection = 'app.bsky.graph.block';
      record = { $type: collection, subject: pick(dids), createdAt };
    } else {
      collection = 'app.bsky.actor.profile';
      rkey = 'self';
      record = { $type: collection, displayName: `Account ${did.slice(-6)}`, description: `Edited at ${i}`, createdAt };
    }
    const cid = realCid(`${did}/${collection}/${rkey}@${i}`);
    const type = collection === 'app.bsky.actor.profile' && profiled.has(did) ? 'update' : 'create';
    if (collection === 'app.bsky.actor.profile') profiled.add(did);
    else deletable.push({ did, collection, rkey, cid });
    if (collection === 'app.bsky.feed.post') posts.push({ uri: `at://${did}/${collection}/${rkey}`, cid, ...(root === undefined ? {} : { root }) });
    if (posts.length > 20_000) posts.splice(0, 10_000);
    if (deletable.length > 50_000) deletable.splice(0, 25_000);
    const write: RecordWriteEvent = { type, ...base, collection, rkey, cid, record };
    return write;
  }

  return { next: (count) => Array.from({ length: count }, one) };
}
