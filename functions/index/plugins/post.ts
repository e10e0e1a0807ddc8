// app.bsky.feed.post -> post, its feed_item, embed rows (images, external, record, video; recordWithMedia is a record
// plus media) and a quote row when it embeds another post. Aggregates: postsCount of the author, replyCount of the
// parent, quoteCount of the quoted post. Removal deletes every one of those rows and reverses exactly what it removes.
import type { Row } from '../rows.ts';
import { blobCid, collectionOf, createdAt, earliest, obj, str, stringArray, strongRef } from './fields.ts';
import type { IndexedRecord, JsonObject, RowPlugin } from './types.ts';
import { FEED_ITEM_TABLE } from './shapes.ts';

const POST = {
  uri: 'text', cid: 'text', creator: 'text', text: 'text', replyRoot: 'text', replyRootCid: 'text', replyParent: 'text',
  replyParentCid: 'text', langs: 'jsonb', tags: 'jsonb', createdAt: 'text', indexedAt: 'text',
} as const;
const IMAGE = { postUri: 'text', position: 'text', imageCid: 'text', alt: 'text' } as const;
const EXTERNAL = { postUri: 'text', uri: 'text', title: 'text', description: 'text', thumbCid: 'text' } as const;
const RECORD = { postUri: 'text', embedUri: 'text', embedCid: 'text' } as const;
const VIDEO = { postUri: 'text', videoCid: 'text', alt: 'text' } as const;
const QUOTE = { uri: 'text', cid: 'text', subject: 'text', subjectCid: 'text', createdAt: 'text', indexedAt: 'text' } as const;

const POST_COLLECTION = 'app.bsky.feed.post';

interface PostRows {
  post: Row;
  feedItem: Row;
  images: Row[];
  external: Row[];
  records: Row[];
  videos: Row[];
  quote: Row[];
}

function media(uri: string, embed: JsonObject | undefined, out: PostRows): void {
  switch (embed?.['$type']) {
    case 'app.bsky.embed.images': {
      const images = Array.isArray(embed['images']) ? embed['images'] : [];
      images.forEach((item, position) => {
        const image = obj(item);
        const cid = blobCid(image?.['image']);
        if (cid !== undefined) out.images.push({ postUri: uri, position: String(position), imageCid: cid, alt: str(image?.['alt']) ?? '' });
      });
      break;
    }
    case 'app.bsky.embed.external': {
      const ext = obj(embed['external']);
      const link = str(ext?.['uri']);
      if (link !== undefined) {
        out.external.push({
          postUri: uri, uri: link, title: str(ext?.['title']) ?? '', description: str(ext?.['description']) ?? '',
          thumbCid: blobCid(ext?.['thumb']) ?? null,
        });
      }
      break;
    }
    case 'app.bsky.embed.video': {
      const cid = blobCid(embed['video']);
      if (cid !== undefined) out.videos.push({ postUri: uri, videoCid: cid, alt: str(embed['alt']) ?? null });
      break;
    }
  }
}

function embedded(r: IndexedRecord, ref: { uri: string; cid: string } | undefined, created: string, out: PostRows): void {
  if (ref === undefined) return;
  out.records.push({ postUri: r.uri, embedUri: ref.uri, embedCid: ref.cid });
  if (collectionOf(ref.uri) === POST_COLLECTION) {
    out.quote.push({ uri: r.uri, cid: r.cid, subject: ref.uri, subjectCid: ref.cid, createdAt: created, indexedAt: r.indexedAt });
  }
}

/** The rows of one post, or undefined when it lacks a post's shape (no text, or a malformed reply). */
export function postRows(r: IndexedRecord): PostRows | undefined {
  const text = str(r.record['text']);
  if (text === undefined) return undefined;
  const replyObj = obj(r.record['reply']);
  const root = strongRef(replyObj?.['root']);
  const parent = strongRef(replyObj?.['parent']);
  if (r.record['reply'] !== undefined && (root === undefined || parent === undefined)) return undefined;
  const created = createdAt(r.record['createdAt']);
  const out: PostRows = {
    post: {
      uri: r.uri, cid: r.cid, creator: r.did, text,
      replyRoot: root?.uri ?? null, replyRootCid: root?.cid ?? null,
      replyParent: parent?.uri ?? null, replyParentCid: parent?.cid ?? null,
      langs: stringArray(r.record['langs']) ?? null, tags: stringArray(r.record['tags']) ?? null,
      createdAt: created, indexedAt: r.indexedAt,
    },
    feedItem: { uri: r.uri, cid: r.cid, type: 'post', postUri: r.uri, originatorDid: r.did, sortAt: earliest(created, r.indexedAt) },
    images: [], external: [], records: [], videos: [], quote: [],
  };
  const embed = obj(r.record['embed']);
  switch (embed?.['$type']) {
    case 'app.bsky.embed.record':
      embedded(r, strongRef(embed['record']), created, out);
      break;
    case 'app.bsky.embed.recordWithMedia':
      embedded(r, strongRef(obj(embed['record'])?.['record']), created, out);
      media(r.uri, obj(embed['media']), out);
      break;
    default:
      media(r.uri, embed, out);
  }
  return out;
}

export const postPlugin: RowPlugin = {
  collection: POST_COLLECTION,
  family: 'post',
  tables: [
    {
      table: 'post', columns: POST, key: 'uri', onConflict: '(uri) do nothing', returning: ['creator', 'replyParent'],
      count(row, sign, deltas) {
        deltas.profile(row['creator'] as string, 'postsCount', sign);
        if (row['replyParent'] !== null) deltas.post(row['replyParent'] as string, 'replyCount', sign);
      },
    },
    FEED_ITEM_TABLE,
    { table: 'post_embed_image', columns: IMAGE, key: 'postUri', onConflict: 'do nothing', dependent: true },
    { table: 'post_embed_external', columns: EXTERNAL, key: 'postUri', onConflict: 'do nothing', dependent: true },
    { table: 'post_embed_record', columns: RECORD, key: 'postUri', onConflict: 'do nothing', dependent: true },
    { table: 'post_embed_video', columns: VIDEO, key: 'postUri', onConflict: 'do nothing', dependent: true },
    {
      table: 'quote', columns: QUOTE, key: 'uri', onConflict: '(uri) do nothing', dependent: true, returning: ['subject'],
      count: (row, sign, deltas) => deltas.post(row['subject'] as string, 'quoteCount', sign),
    },
  ],
  rows(r) {
    const p = postRows(r);
    if (p === undefined) return undefined;
    return {
      post: [p.post], feed_item: [p.feedItem], post_embed_image: p.images, post_embed_external: p.external,
      post_embed_record: p.records, post_embed_video: p.videos, quote: p.quote,
    };
  },
};
