// Differential test of bskyRecordProblem against the official AppView's record checks (@atproto/bsky's compiled
// lexicon schemas, strict mode, loaded by tests/helpers/appview-lexicons.ts). The AppView indexes a record only when
// its schema accepts it, so skytide must accept exactly the same records: for every collection, hand-written valid
// seeds are mutated (fields deleted or retyped, `$type`s changed, strings replaced by the interop syntax vectors and
// by unicode at and around the length limits, arrays resized, blobs and integers pushed past their limits) and both
// sides' verdicts compared. Every disagreement is collected and reported, shrunk, with our message.
// Deterministic: the seed is printed; LEXICON_ORACLE_SEED=<n> replays a run.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { CID as Cid } from 'multiformats/cid';
import { base32, base32upper } from 'multiformats/bases/base32';
import { base36 } from 'multiformats/bases/base36';
import { base58btc } from 'multiformats/bases/base58';
import { base16 } from 'multiformats/bases/base16';
import { bskyRecordProblem } from '../../functions/atproto/lexicon/bsky.ts';
import { compileLexicons } from '../../functions/atproto/lexicon/compile.ts';
import { encodeCbor } from '../../functions/atproto/cbor.ts';
import { decodeLex } from '../../functions/atproto/lex-cbor.ts';
import { lexToCbor } from '../../functions/atproto/lex-json.ts';
import type { JsonValue } from '../../functions/events.ts';
import {
  APPVIEW_RECORD_COLLECTIONS,
  loadAppviewCborRecordCheck,
  loadAppviewRecordCheck,
  type AppviewCborRecordCheck,
  type AppviewRecordCheck,
} from '../helpers/appview-lexicons.ts';
import { createRandom, type Random } from '../helpers/seeded-random.ts';

const MUTANTS_PER_COLLECTION = 350;

function seedFromEnv(value: string | undefined): number {
  if (value === undefined || value === '') return 20_240_601;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`LEXICON_ORACLE_SEED must be a non-negative integer, got ${JSON.stringify(value)}`);
  return n >>> 0;
}
const SEED = seedFromEnv(process.env['LEXICON_ORACLE_SEED']);

// ---------------------------------------------------------------------------------------------------------------
// Values

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const isObject = (v: unknown): v is JsonObject => v !== null && typeof v === 'object' && !Array.isArray(v);
const clone = <T extends Json>(v: T): T => structuredClone(v);

const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';
const DID2 = 'did:web:example.com';
const CID = 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm'; // dag-cbor, sha-256
const RAW = 'bafkreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm'; // raw, sha-256
const CIDV0 = 'QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR';
const NOW = '2024-06-01T12:34:56.789Z';
const uri = (collection: string, rkey = '3jzfcijpj2z2a', did = DID) => `at://${did}/${collection}/${rkey}`;
const POST_URI = uri('app.bsky.feed.post');
const LIST_URI = uri('app.bsky.graph.list', '3kfj2bxl5xs2b');
const strongRef = (u = POST_URI): JsonObject => ({ uri: u, cid: CID });
const blob = (mimeType: string, size = 12_345, ref = RAW): JsonObject => ({ $type: 'blob', ref: { $link: ref }, mimeType, size });
const facets: Json = [
  { index: { byteStart: 0, byteEnd: 5 }, features: [{ $type: 'app.bsky.richtext.facet#mention', did: DID }] },
  { index: { byteStart: 6, byteEnd: 20 }, features: [{ $type: 'app.bsky.richtext.facet#link', uri: 'https://example.com/a?b=c#d' }] },
  { $type: 'app.bsky.richtext.facet', index: { $type: 'app.bsky.richtext.facet#byteSlice', byteStart: 21, byteEnd: 25 }, features: [{ $type: 'app.bsky.richtext.facet#tag', tag: 'skytide' }] },
  {
    index: { byteStart: 0, byteEnd: 0 },
    features: [
      { $type: 'app.bsky.richtext.facet#tag', tag: 'a' },
      { $type: 'app.bsky.richtext.facet#link', uri: 'at://did:plc:ewvi7nxzyoun6zhxrhs64oiz' },
    ],
  },
];
const selfLabels: JsonObject = { $type: 'com.atproto.label.defs#selfLabels', values: [{ val: 'porn' }, { $type: 'com.atproto.label.defs#selfLabel', val: '!no-unauthenticated' }] };
const images: JsonObject = {
  $type: 'app.bsky.embed.images',
  images: [
    { image: blob('image/jpeg', 900_000), alt: 'a cat', aspectRatio: { width: 1200, height: 800 } },
    { $type: 'app.bsky.embed.images#image', image: blob('image/webp', 2_000_000), alt: '', aspectRatio: { $type: 'app.bsky.embed.defs#aspectRatio', width: 1, height: 1 } },
    { image: blob('image/png', 1), alt: 'ünïcødé 🐈‍⬛' },
  ],
};
const video: JsonObject = {
  $type: 'app.bsky.embed.video',
  video: blob('video/mp4', 50_000_000),
  captions: [
    { lang: 'en', file: blob('text/vtt', 20_000) },
    { $type: 'app.bsky.embed.video#caption', lang: 'pt-BR', file: blob('text/vtt', 10) },
  ],
  alt: 'a clip',
  aspectRatio: { width: 16, height: 9 },
  presentation: 'gif',
};
const external: JsonObject = {
  $type: 'app.bsky.embed.external',
  external: {
    uri: 'https://example.com/article',
    title: 'An article',
    description: 'What it says',
    thumb: blob('image/png', 1_000_000),
    associatedRefs: [strongRef(), strongRef(uri('app.bsky.feed.post', '3kabc2z2z2z2a'))],
  },
};
const gallery: JsonObject = {
  $type: 'app.bsky.embed.gallery',
  items: [
    { $type: 'app.bsky.embed.gallery#image', image: blob('image/jpeg', 2_000_000), alt: 'one', aspectRatio: { width: 3, height: 4 } },
    { $type: 'app.bsky.embed.gallery#image', image: blob('image/gif', 5), alt: '', aspectRatio: { width: 1, height: 1 } },
  ],
};
const recordEmbed: JsonObject = { $type: 'app.bsky.embed.record', record: strongRef(uri('app.bsky.feed.post', '3kxyzxyzxyz2a')) };
const withMedia = (media: JsonObject): JsonObject => ({ $type: 'app.bsky.embed.recordWithMedia', record: { record: strongRef() }, media });
const post = (extra: JsonObject): JsonObject => ({ $type: 'app.bsky.feed.post', text: 'hello @alice.test https://example.com #skytide', createdAt: NOW, ...extra });
const labelValueDefinition: JsonObject = {
  identifier: 'spoilers',
  severity: 'inform',
  blurs: 'content',
  defaultSetting: 'warn',
  adultOnly: false,
  locales: [
    { lang: 'en', name: 'Spoilers', description: 'Plot details' },
    { lang: 'ja', name: 'ネタバレ', description: '筋書き' },
  ],
};

const SEEDS: Record<string, JsonObject[]> = {
  'app.bsky.actor.profile': [
    { $type: 'app.bsky.actor.profile' },
    {
      $type: 'app.bsky.actor.profile',
      displayName: 'Alice 👩‍💻',
      description: 'Bio with\nnewlines and émoji 🇧🇷',
      pronouns: 'she/her',
      website: 'https://alice.example.com',
      avatar: blob('image/png', 1_000_000),
      banner: blob('image/jpeg', 300_000),
      labels: selfLabels,
      joinedViaStarterPack: strongRef(uri('app.bsky.graph.starterpack', '3kstarter2z2a')),
      pinnedPost: { $type: 'com.atproto.repo.strongRef', uri: POST_URI, cid: CID },
      createdAt: NOW,
    },
  ],
  'app.bsky.feed.generator': [
    { $type: 'app.bsky.feed.generator', did: DID2, displayName: 'Cats', createdAt: NOW },
    {
      $type: 'app.bsky.feed.generator',
      did: DID,
      displayName: 'What’s hot 🔥',
      description: 'The hottest posts',
      descriptionFacets: facets,
      avatar: blob('image/jpeg', 10),
      acceptsInteractions: true,
      labels: selfLabels,
      contentMode: 'app.bsky.feed.defs#contentModeVideo',
      createdAt: '2024-06-01T12:34:56Z',
    },
  ],
  'app.bsky.feed.like': [
    { $type: 'app.bsky.feed.like', subject: strongRef(), createdAt: NOW },
    { $type: 'app.bsky.feed.like', subject: strongRef(uri('app.bsky.feed.generator', 'whats-hot')), createdAt: '2024-06-01T12:34:56.789+02:00', via: strongRef(uri('app.bsky.feed.repost')) },
  ],
  'app.bsky.feed.postgate': [
    { $type: 'app.bsky.feed.postgate', post: POST_URI, createdAt: NOW },
    {
      $type: 'app.bsky.feed.postgate',
      post: POST_URI,
      createdAt: NOW,
      detachedEmbeddingUris: [uri('app.bsky.feed.post', '3kaaaaaaaaa2a'), uri('app.bsky.feed.post', '3kbbbbbbbbb2a', DID2)],
      embeddingRules: [{ $type: 'app.bsky.feed.postgate#disableRule' }],
    },
  ],
  'app.bsky.feed.post': [
    { $type: 'app.bsky.feed.post', text: '', createdAt: NOW },
    post({
      reply: { root: strongRef(uri('app.bsky.feed.post', '3kroot2z2z2za')), parent: { $type: 'com.atproto.repo.strongRef', uri: POST_URI, cid: CID } },
      facets,
      langs: ['en', 'pt-BR', 'zh-Hant'],
      labels: selfLabels,
      tags: ['cats', 'ünïcødé', '🐈'],
      entities: [{ index: { start: 0, end: 5 }, type: 'mention', value: DID }],
    }),
    post({ $type: 'app.bsky.feed.post', embed: images, langs: ['ja'] }),
    post({ embed: video }),
    post({ embed: external, reply: { $type: 'app.bsky.feed.post#replyRef', root: strongRef(), parent: strongRef() } }),
    post({ embed: recordEmbed }),
    post({ embed: withMedia(images) }),
    post({ embed: withMedia(video) }),
    post({ embed: withMedia(external) }),
    post({ embed: withMedia(gallery) }),
    post({ embed: gallery }),
    post({ text: '👨‍👩‍👧‍👦'.repeat(120), tags: [] }),
  ],
  'app.bsky.feed.repost': [
    { $type: 'app.bsky.feed.repost', subject: strongRef(), createdAt: NOW },
    { $type: 'app.bsky.feed.repost', subject: strongRef(), createdAt: NOW, via: strongRef(uri('app.bsky.feed.repost')) },
  ],
  'app.bsky.feed.threadgate': [
    { $type: 'app.bsky.feed.threadgate', post: POST_URI, createdAt: NOW },
    { $type: 'app.bsky.feed.threadgate', post: POST_URI, createdAt: NOW, allow: [] },
    {
      $type: 'app.bsky.feed.threadgate',
      post: POST_URI,
      createdAt: NOW,
      allow: [
        { $type: 'app.bsky.feed.threadgate#mentionRule' },
        { $type: 'app.bsky.feed.threadgate#followerRule' },
        { $type: 'app.bsky.feed.threadgate#followingRule' },
        { $type: 'app.bsky.feed.threadgate#listRule', list: LIST_URI },
      ],
      hiddenReplies: [uri('app.bsky.feed.post', '3khidden2z2za'), uri('app.bsky.feed.post', '3khidden3z2za', DID2)],
    },
  ],
  'app.bsky.graph.block': [{ $type: 'app.bsky.graph.block', subject: DID, createdAt: NOW }],
  'app.bsky.graph.follow': [
    { $type: 'app.bsky.graph.follow', subject: DID, createdAt: NOW },
    { $type: 'app.bsky.graph.follow', subject: DID2, createdAt: NOW, via: strongRef(uri('app.bsky.graph.starterpack', '3kstarter2z2a')) },
  ],
  'app.bsky.graph.list': [
    { $type: 'app.bsky.graph.list', purpose: 'app.bsky.graph.defs#curatelist', name: 'Cats', createdAt: NOW },
    {
      $type: 'app.bsky.graph.list',
      purpose: 'app.bsky.graph.defs#modlist',
      name: 'Spam 🚫',
      description: 'Accounts that spam',
      descriptionFacets: facets,
      avatar: blob('image/png', 999_999),
      labels: selfLabels,
      createdAt: NOW,
    },
    { $type: 'app.bsky.graph.list', purpose: 'app.bsky.graph.defs#referencelist', name: 'x', createdAt: NOW },
  ],
  'app.bsky.graph.listblock': [{ $type: 'app.bsky.graph.listblock', subject: LIST_URI, createdAt: NOW }],
  'app.bsky.graph.listitem': [{ $type: 'app.bsky.graph.listitem', subject: DID, list: LIST_URI, createdAt: NOW }],
  'app.bsky.graph.referencelistoptout': [{ $type: 'app.bsky.graph.referencelistoptout', subject: LIST_URI, createdAt: NOW }],
  'app.bsky.graph.starterpack': [
    { $type: 'app.bsky.graph.starterpack', name: 'Starter', list: LIST_URI, createdAt: NOW },
    {
      $type: 'app.bsky.graph.starterpack',
      name: 'Cat people 🐈',
      description: 'Follow these',
      descriptionFacets: facets,
      list: LIST_URI,
      feeds: [{ uri: uri('app.bsky.feed.generator', 'cats') }, { $type: 'app.bsky.graph.starterpack#feedItem', uri: uri('app.bsky.feed.generator', 'dogs') }],
      createdAt: NOW,
    },
  ],
  'app.bsky.graph.verification': [
    { $type: 'app.bsky.graph.verification', subject: DID, handle: 'alice.bsky.social', displayName: 'Alice', createdAt: NOW },
    { $type: 'app.bsky.graph.verification', subject: DID2, handle: 'xn--ls8h.test', displayName: '', createdAt: NOW },
  ],
  'app.bsky.labeler.service': [
    { $type: 'app.bsky.labeler.service', policies: { labelValues: [] }, createdAt: NOW },
    {
      $type: 'app.bsky.labeler.service',
      policies: {
        labelValues: ['!hide', 'porn', 'spoilers', 'custom-value'],
        labelValueDefinitions: [labelValueDefinition, { ...labelValueDefinition, identifier: 'gore', severity: 'alert', blurs: 'media', defaultSetting: 'hide', adultOnly: true }],
      },
      labels: selfLabels,
      createdAt: NOW,
      reasonTypes: ['com.atproto.moderation.defs#reasonSpam', 'tools.ozone.report.defs#reasonOther', 'com.example.custom#reason'],
      subjectTypes: ['account', 'record', 'chat'],
      subjectCollections: ['app.bsky.feed.post', 'app.bsky.actor.profile'],
    },
  ],
  // The collections the AppView keeps only a record row for.
  'app.bsky.actor.status': [
    { $type: 'app.bsky.actor.status', status: 'app.bsky.actor.status#live', createdAt: NOW },
    {
      $type: 'app.bsky.actor.status', status: 'app.bsky.actor.status#live', durationMinutes: 90, createdAt: NOW,
      embed: { $type: 'app.bsky.embed.external', external: { uri: 'https://stream.example.com/live', title: 'Live', description: 'now' } },
    },
  ],
  'app.bsky.notification.declaration': [
    { $type: 'app.bsky.notification.declaration', allowSubscriptions: 'followers' },
    { $type: 'app.bsky.notification.declaration', allowSubscriptions: 'someone-new' },
  ],
  'chat.bsky.actor.declaration': [
    { $type: 'chat.bsky.actor.declaration', allowIncoming: 'following' },
    { $type: 'chat.bsky.actor.declaration', allowIncoming: 'all', allowGroupInvites: 'none' },
  ],
  'com.germnetwork.declaration': [
    { $type: 'com.germnetwork.declaration', version: '1.0.0', currentKey: { $bytes: 'AAECAwQFBgcICQ' } },
    {
      $type: 'com.germnetwork.declaration', version: '2.10.3-beta', currentKey: { $bytes: 'AAECAw' }, keyPackage: { $bytes: 'BAUG' },
      continuityProofs: [{ $bytes: 'AQID' }, { $bytes: 'BAUG' }],
      messageMe: { showButtonTo: 'everyone', messageMeUrl: 'https://landing.example.com/message' },
    },
  ],
};

// ---------------------------------------------------------------------------------------------------------------
// Interop syntax vectors (lines are not trimmed: leading and trailing spaces are part of several invalid cases)

const VECTOR_DIR = new URL('../fixtures/interop/syntax/', import.meta.url);
function vectorLines(file: string): string[] {
  return readFileSync(new URL(file, VECTOR_DIR), 'utf8')
    .split('\n')
    .filter((line) => line.length > 0 && !line.startsWith('#'));
}
type Family = 'datetime' | 'language' | 'aturi' | 'did' | 'handle' | 'uri' | 'cid' | 'nsid' | 'atidentifier' | 'recordkey' | 'tid';
const FAMILY_FILES: Record<Family, string[]> = {
  datetime: ['datetime_syntax_valid', 'datetime_syntax_invalid', 'datetime_parse_invalid'],
  language: ['language_syntax_valid', 'language_syntax_invalid', 'language_parse_invalid'],
  aturi: ['aturi_syntax_valid', 'aturi_syntax_invalid'],
  did: ['did_syntax_valid', 'did_syntax_invalid', 'did_parse_invalid'],
  handle: ['handle_syntax_valid', 'handle_syntax_invalid'],
  uri: ['uri_syntax_valid', 'uri_syntax_invalid'],
  cid: ['cid_syntax_valid', 'cid_syntax_invalid'],
  nsid: ['nsid_syntax_valid', 'nsid_syntax_invalid'],
  atidentifier: ['atidentifier_syntax_valid', 'atidentifier_syntax_invalid'],
  recordkey: ['recordkey_syntax_valid', 'recordkey_syntax_invalid'],
  tid: ['tid_syntax_valid', 'tid_syntax_invalid'],
};
interface Vector {
  file: string;
  value: string;
}
const VECTORS = new Map<Family, Vector[]>(
  (Object.entries(FAMILY_FILES) as [Family, string[]][]).map(([family, files]) => [family, files.flatMap((file) => vectorLines(`${file}.txt`).map((value) => ({ file, value })))]),
);

/** CID strings the interop vectors lack: other multibases and cases, padding, odd codecs and hashes, non-minimal varints. */
function cidEdgeCases(): Vector[] {
  const raw = Cid.parse(RAW);
  const cbor = Cid.parse(CID);
  const b32 = (bytes: number[]) => base32.encode(Uint8Array.from(bytes));
  const digest = [...cbor.multihash.digest];
  const cases: [string, string][] = [
    ['raw canonical', RAW],
    ['dag-cbor canonical', CID],
    ['CIDv0', CIDV0],
    ['base58btc v1', raw.toString(base58btc)],
    ['base36 v1', raw.toString(base36)],
    ['base32upper v1', raw.toString(base32upper)],
    ['base16 v1', raw.toString(base16)],
    ['upper-case body', `b${RAW.slice(1).toUpperCase()}`],
    ['mixed-case body', `b${RAW.slice(1, 10).toUpperCase()}${RAW.slice(10)}`],
    ['= padding', `${RAW}====`],
    ['one = pad', `${CID}=`],
    ['truncated', RAW.slice(0, -2)],
    ['trailing char', `${RAW}a`],
    ['dag-pb v1', 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi'],
    ['identity hash', b32([0x01, 0x55, 0x00, 0x03, 0x61, 0x62, 0x63])],
    ['sha512 digest', b32([0x01, 0x71, 0x13, 0x40, ...digest, ...digest])],
    ['unknown codec', b32([0x01, 0xff, 0x01, 0x12, 0x20, ...digest])],
    ['non-minimal version varint', b32([0x81, 0x00, 0x71, 0x12, 0x20, ...digest])],
    ['version 2', b32([0x02, 0x71, 0x12, 0x20, ...digest])],
    ['version 0 explicit', b32([0x00, 0x70, 0x12, 0x20, ...digest])],
    ['digest too short', b32([0x01, 0x71, 0x12, 0x20, ...digest.slice(0, 31)])],
    ['over 128 chars', `${CID}${'a'.repeat(80)}`],
    ['Q with non-latin', `Qm${'\u4e00'}WqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR`],
    ['empty', ''],
    ['bare b', 'b'],
  ];
  return cases.map(([name, value]) => ({ file: `cid-edge ${name}`, value }));
}
const CID_EDGES = cidEdgeCases();
VECTORS.set('cid', [...(VECTORS.get('cid') ?? []), ...CID_EDGES]);

/** More datetimes and language tags at the edges of the two formats' grammars. */
VECTORS.set('datetime', [
  ...(VECTORS.get('datetime') ?? []),
  ...['2024-02-29T00:00:00Z', '2023-02-29T00:00:00Z', '2024-06-01T23:59:60Z', '2024-06-01t12:00:00z', '2024-06-01T12:00:00+00:00', '2024-06-01T12:00:00-00:00',
    '2024-06-01T12:00:00.123456789012Z', '0000-01-01T00:00:00Z', '0001-01-01T00:00:00Z', '9999-12-31T23:59:59.999Z', '2024-06-01T24:00:00Z', '2024-06-01T12:00:00+14:00',
    '2024-06-01T12:00:00+23:59', '2024-06-01T12:00:00+24:00', '2024-06-01T12:00Z', '2024-06-01 12:00:00Z', '2024-06-01T12:00:00.Z', '+002024-06-01T12:00:00Z', '2024-06-01T12:00:00,5Z']
    .map((value) => ({ file: 'datetime-edge', value })),
]);
VECTORS.set('language', [
  ...(VECTORS.get('language') ?? []),
  ...['i-klingon', 'art-lojban', 'zh-min-nan', 'x-private', 'X-PRIVATE', 'en_US', 'EN-us', 'en-US-x-twain', 'en-a-bbb-x-a-ccc', 'en-US-u', 'abcdefgh', 'abcdefghi', 'en-abcdefghi',
    'en-1994', 'en-12345', 'de-1901-1996', 'en-Latn-US-1994-u-ca-gregory', 'zh-yue-HK', 'en-GB-oed', 'qaa', 'mn-Cyrl-MN', 'es-419', 'es-4190', 'en-a', 'en-x', 'en--US', '-en', 'ja\u0000']
    .map((value) => ({ file: 'language-edge', value })),
]);

const ALL_VECTORS = [...VECTORS.values()].flat();

/** The syntax families a string under this key is expected to be (by the key, or the array's key for items). */
const KEY_FAMILIES: Record<string, Family[]> = {
  createdAt: ['datetime'],
  lang: ['language'],
  langs: ['language'],
  uri: ['aturi', 'uri'],
  post: ['aturi'],
  list: ['aturi'],
  detachedEmbeddingUris: ['aturi'],
  hiddenReplies: ['aturi'],
  subject: ['aturi', 'did', 'handle', 'atidentifier'],
  did: ['did', 'atidentifier'],
  handle: ['handle', 'atidentifier'],
  cid: ['cid'],
  website: ['uri'],
  subjectCollections: ['nsid'],
  purpose: ['nsid'],
  reasonTypes: ['nsid'],
};

// ---------------------------------------------------------------------------------------------------------------
// Strings at and around the length limits: UTF-8 bytes and grapheme clusters

const UNITS: { name: string; text: string }[] = [
  { name: 'ascii', text: 'a' },
  { name: 'latin-2B', text: 'é' },
  { name: 'cjk-3B', text: '語' },
  { name: 'emoji-4B', text: '😀' },
  { name: 'e+combining', text: 'e\u0301' },
  { name: 'combining-stack', text: `a${'\u0300'.repeat(12)}` },
  { name: 'zwj-family', text: '👨‍👩‍👧‍👦' },
  { name: 'flag', text: '🇧🇷' },
  { name: 'skin-tone', text: '👍🏽' },
  { name: 'hangul-jamo', text: '\u1100\u1161\u11a8' },
  { name: 'crlf', text: '\r\n' },
  { name: 'lone-high-surrogate', text: '\ud83d' },
  { name: 'lone-low-surrogate', text: '\ude00' },
  { name: 'nul', text: '\u0000' },
  { name: 'bom', text: '\ufeff' },
];
const GRAPHEME_LIMITS = [20, 24, 50, 64, 100, 256, 300];
const BYTE_LIMITS = [1, 64, 100, 128, 200, 240, 500, 640, 2560, 3000];
/** The limits that apply under a key, to aim at (others are drawn from all the limits). */
const KEY_LIMITS: Record<string, { graphemes: number[]; bytes: number[] }> = {
  text: { graphemes: [300], bytes: [3000] },
  displayName: { graphemes: [24, 64], bytes: [240, 640] },
  description: { graphemes: [256, 300], bytes: [2560, 3000] },
  pronouns: { graphemes: [20], bytes: [200] },
  name: { graphemes: [50, 64], bytes: [1, 64, 500, 640] },
  tag: { graphemes: [64], bytes: [640] },
  tags: { graphemes: [64], bytes: [640] },
  val: { graphemes: [], bytes: [128] },
  identifier: { graphemes: [100], bytes: [100] },
};
const utf8Bytes = (s: string): number => new TextEncoder().encode(s).length;
/** A table's entry for a record's key: its own entries only (records have keys like `constructor`). */
const own = <T>(table: Record<string, T>, key: string): T | undefined => (Object.hasOwn(table, key) ? table[key] : undefined);

function limitedString(random: Random, key: string): { text: string; label: string } {
  const unit = random.pick(UNITS);
  const aimed = own(KEY_LIMITS, key);
  const limits = aimed !== undefined && random.chance(0.8) ? aimed : { graphemes: GRAPHEME_LIMITS, bytes: BYTE_LIMITS };
  const delta = random.pick([-1, 0, 0, 1, 1]);
  if (limits.graphemes.length > 0 && (limits.bytes.length === 0 || random.chance(0.5))) {
    const g = random.pick(limits.graphemes);
    const n = Math.max(0, g + delta);
    return { text: unit.text.repeat(n), label: `${unit.name} x ${n} (maxGraphemes ${g}${delta > 0 ? '+1' : delta < 0 ? '-1' : ''})` };
  }
  const b = random.pick(limits.bytes);
  const target = Math.max(0, b + delta);
  const unitBytes = utf8Bytes(unit.text);
  const count = random.chance(0.5) ? Math.floor(target / unitBytes) : Math.max(0, Math.floor(target / unitBytes) - 1);
  let text = unit.text.repeat(count);
  text += 'a'.repeat(Math.max(0, target - utf8Bytes(text)));
  return { text, label: `${unit.name} to ${utf8Bytes(text)} bytes (maxLength ${b}${delta > 0 ? '+1' : delta < 0 ? '-1' : ''})` };
}

// ---------------------------------------------------------------------------------------------------------------
// Mutations

type Path = (string | number)[];
interface Node {
  path: Path;
  value: Json;
  parent: JsonObject | Json[] | undefined;
  key: string | number | undefined;
  /** The object key this value is under (for array items, the array's key). */
  field: string;
}

function nodesOf(root: Json): Node[] {
  const out: Node[] = [];
  const walk = (value: Json, path: Path, parent: JsonObject | Json[] | undefined, key: string | number | undefined, field: string) => {
    out.push({ path, value, parent, key, field });
    if (Array.isArray(value)) value.forEach((v, i) => walk(v, [...path, i], value, i, field));
    else if (isObject(value)) for (const [k, v] of Object.entries(value)) walk(v, [...path, k], value, k, k);
  };
  walk(root, [], undefined, undefined, '');
  return out;
}

const showPath = (path: Path): string => path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('') || '(record)';
const shapePath = (path: Path): string => path.map((p) => (typeof p === 'number' ? '[]' : `.${p}`)).join('') || '(record)';

/** Every `$type` a union member or object in these lexicons can carry, and a few that no lexicon defines. */
const KNOWN_TYPES = [
  'app.bsky.embed.images', 'app.bsky.embed.video', 'app.bsky.embed.gallery', 'app.bsky.embed.external', 'app.bsky.embed.record', 'app.bsky.embed.recordWithMedia',
  'app.bsky.embed.images#image', 'app.bsky.embed.video#caption', 'app.bsky.embed.gallery#image', 'app.bsky.embed.external#external', 'app.bsky.embed.defs#aspectRatio',
  'app.bsky.richtext.facet', 'app.bsky.richtext.facet#mention', 'app.bsky.richtext.facet#link', 'app.bsky.richtext.facet#tag', 'app.bsky.richtext.facet#byteSlice',
  'com.atproto.label.defs#selfLabels', 'com.atproto.label.defs#selfLabel', 'com.atproto.label.defs#labelValueDefinition', 'com.atproto.label.defs#labelValueDefinitionStrings',
  'com.atproto.repo.strongRef', 'app.bsky.feed.post#replyRef', 'app.bsky.feed.post#entity', 'app.bsky.feed.post#textSlice',
  'app.bsky.feed.threadgate#mentionRule', 'app.bsky.feed.threadgate#followerRule', 'app.bsky.feed.threadgate#followingRule', 'app.bsky.feed.threadgate#listRule',
  'app.bsky.feed.postgate#disableRule', 'app.bsky.graph.starterpack#feedItem', 'app.bsky.labeler.defs#labelerPolicies',
  ...APPVIEW_RECORD_COLLECTIONS,
];
const ODD_TYPES: Json[] = ['com.example.unknown#thing', 'app.bsky.embed.unknown', '', 'blob', '#main', 'app.bsky.embed.images#view', 1, true, null, ['app.bsky.embed.images'], {}];
const SCALARS: Json[] = [0, -1, 1, 1.5, -0.5, 2 ** 31, 2 ** 53 - 1, 2 ** 53, 1e21, true, false, '', 'x', '0', [], {}, { $link: CID }, { $link: RAW }, { $link: 'not-a-cid' }, { $bytes: 'AAECAw' }, { $bytes: '!!' }];
const MIME_TYPES = ['image/png', 'image/jpeg', 'image/webp', 'image/gif', 'image/svg+xml', 'image/*', 'image/', 'image', 'imagex/png', 'IMAGE/PNG', 'image/png; charset=binary', 'video/mp4', 'video/quicktime', 'text/vtt', 'text/plain', 'application/octet-stream', '*/*', ''];
const SIZES: Json[] = [0, 1, -1, 1.5, 20_000, 20_001, 1_000_000, 1_000_001, 2_000_000, 2_000_001, 300_000_000, 300_000_001, 2 ** 53 - 1, 2 ** 53, '100', null];
const INTEGERS: Json[] = [0, 1, -1, 2, 1.5, 0.5, -0.5, 2 ** 31, 2 ** 53 - 1, 2 ** 53, -(2 ** 53), 1e21, '1', true, null];

interface Mutant {
  record: Json;
  description: string;
  /** What this kind of change is: the shape of the path and the kind of change. */
  signature: string;
  /** Where it changed the record (path shapes, `[]` for any index), for grouping disagreements. */
  where: string;
}

function setAt(record: Json, node: Node, value: Json | undefined): Json {
  if (node.parent === undefined) return value === undefined ? null : value;
  if (Array.isArray(node.parent)) {
    if (value === undefined) node.parent.splice(node.key as number, 1);
    else node.parent[node.key as number] = value;
  } else if (value === undefined) delete node.parent[node.key as string];
  else node.parent[node.key as string] = value;
  return record;
}

/** One random change to `record` (a fresh copy), described. */
function mutate(random: Random, collection: string, original: Json): Mutant {
  const record = clone(original);
  const nodes = nodesOf(record);
  const node = random.pick(nodes);
  const where = showPath(node.path);
  const shape = shapePath(node.path);
  const value = node.value;
  const choices: (() => Mutant)[] = [];
  const done = (description: string, signature: string, next: Json): Mutant => ({ record: next, description, signature: `${signature} @ ${shape}`, where: shape });

  // Any value: remove it, null it, or give it another type.
  if (node.parent !== undefined) choices.push(() => done(`delete ${where}`, 'delete', setAt(record, node, undefined)));
  choices.push(() => done(`set ${where} = null`, 'null', setAt(record, node, null)));
  choices.push(() => {
    const v = random.pick(SCALARS);
    return done(`set ${where} = ${JSON.stringify(v)}`, `retype ${JSON.stringify(v)}`, setAt(record, node, clone(v)));
  });
  choices.push(() => done(`wrap ${where} in an array`, 'wrap-array', setAt(record, node, [clone(value)])));

  if (node.parent === undefined && isObject(record)) {
    const top = record;
    choices.push(() => {
      const t = random.pick<Json>([`${collection}#main`, random.pick(APPVIEW_RECORD_COLLECTIONS), ...ODD_TYPES]);
      top['$type'] = clone(t);
      return done(`record $type = ${JSON.stringify(t)}`, `record-$type ${JSON.stringify(t)}`, record);
    });
    choices.push(() => {
      delete top['$type'];
      return done('delete record $type', 'record-$type missing', record);
    });
  }

  if (isObject(value)) {
    choices.push(() => {
      // Not `__proto__`: lexParse refuses it (the AppView's CBOR path is tested for it below).
      const key = random.pick(['extra', 'x-custom', '$link', '$bytes', 'ref', 'size', 'cid', '$type', 'constructor', 'toString', 'hasOwnProperty']);
      const v = random.pick(SCALARS);
      value[key] = clone(v);
      return done(`add ${where}.${key} = ${JSON.stringify(v)}`, `extra-key ${key}=${JSON.stringify(v)}`, record);
    });
    if (node.parent !== undefined) {
      choices.push(() => {
        const current = value['$type'];
        const t = random.pick<Json>([
          ...(typeof current === 'string' && !current.includes('#') ? [`${current}#main`] : []),
          ...(typeof current === 'string' && current.endsWith('#main') ? [current.slice(0, -5)] : []),
          random.pick(KNOWN_TYPES),
          random.pick(KNOWN_TYPES),
          random.pick(ODD_TYPES),
        ]);
        value['$type'] = clone(t);
        return done(`${where}.$type ${JSON.stringify(current)} -> ${JSON.stringify(t)}`, `$type ${JSON.stringify(current)} -> ${JSON.stringify(t)}`, record);
      });
      if ('$type' in value) {
        choices.push(() => {
          const current = value['$type'];
          delete value['$type'];
          return done(`delete ${where}.$type (${JSON.stringify(current)})`, `delete-$type ${JSON.stringify(current)}`, record);
        });
      }
    }
    if (value['$type'] === 'blob') {
      const blobChoices: (() => Mutant)[] = [
        () => {
          const m = random.pick(MIME_TYPES);
          value['mimeType'] = m;
          return done(`${where}.mimeType = ${JSON.stringify(m)}`, `blob-mime ${m}`, record);
        },
        () => {
          const s = random.pick(SIZES);
          value['size'] = s;
          return done(`${where}.size = ${JSON.stringify(s)}`, `blob-size ${JSON.stringify(s)}`, record);
        },
        () => {
          const r = random.pick<Json>([{ $link: CID }, { $link: 'not-a-cid' }, { $link: RAW, extra: 1 }, RAW, { $bytes: 'AAECAw' }, { $link: random.pick(CID_EDGES).value }, { $link: random.pick(CID_EDGES).value }]);
          value['ref'] = clone(r);
          return done(`${where}.ref = ${JSON.stringify(r)}`, `blob-ref ${JSON.stringify(r)}`, record);
        },
        () => {
          const legacy: JsonObject = { cid: RAW, mimeType: typeof value['mimeType'] === 'string' ? value['mimeType'] : 'image/png' };
          return done(`${where} = legacy ${JSON.stringify(legacy)}`, 'blob-legacy', setAt(record, node, legacy));
        },
        () => {
          const key = random.pick(['mimeType', 'size', 'ref']);
          delete value[key];
          return done(`delete ${where}.${key}`, `blob-delete ${key}`, record);
        },
      ];
      choices.push(...blobChoices, ...blobChoices);
    }
  }

  if (Array.isArray(value)) {
    choices.push(() => {
      const target = random.pick([0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 20, 21, 50, 51, 300, 301]);
      const next: Json[] = [];
      for (let i = 0; i < target; i++) next.push(value.length > 0 ? clone(value[i % value.length] as Json) : clone(random.pick(SCALARS)));
      return done(`${where} resized to ${target} items`, `array-length ${target}`, setAt(record, node, next));
    });
    choices.push(() => {
      const v = random.pick(SCALARS);
      value.push(clone(v));
      return done(`push ${JSON.stringify(v)} onto ${where}`, `array-push ${JSON.stringify(v)}`, record);
    });
  }

  if (typeof value === 'string') {
    const families = own(KEY_FAMILIES, node.field);
    const vector = () => {
      const pool = families !== undefined && random.chance(0.8) ? families.flatMap((f) => VECTORS.get(f) ?? []) : ALL_VECTORS;
      const v = random.pick(pool);
      return done(`${where} = ${JSON.stringify(v.value)} (${v.file})`, `vector ${v.file} ${JSON.stringify(v.value)}`, setAt(record, node, v.value));
    };
    const unicode = () => {
      const s = limitedString(random, node.field);
      return done(`${where} = ${s.label}`, `string ${s.label}`, setAt(record, node, s.text));
    };
    choices.push(vector, vector, vector, unicode, unicode, unicode);
  }

  if (typeof value === 'number') {
    const integer = () => {
      const v = random.pick(INTEGERS);
      return done(`${where} = ${JSON.stringify(v)}`, `integer ${JSON.stringify(v)}`, setAt(record, node, v));
    };
    choices.push(integer, integer);
  }

  return random.pick(choices)();
}

/** Every seed with each string under a format-bearing key replaced by every vector of its families. */
function formatSweep(collection: string, seeds: readonly JsonObject[]): Mutant[] {
  const out: Mutant[] = [];
  const seen = new Set<string>();
  for (const seed of seeds) {
    for (const node of nodesOf(seed)) {
      if (typeof node.value !== 'string' || node.path.at(-1) === '$type') continue;
      const families = own(KEY_FAMILIES, node.field);
      if (families === undefined) continue;
      for (const family of families) {
        for (const v of VECTORS.get(family) ?? []) {
          const key = `${collection} ${shapePath(node.path)} ${v.value}`;
          if (seen.has(key)) continue;
          seen.add(key);
          const record = clone(seed);
          const target = nodesOf(record).find((n) => showPath(n.path) === showPath(node.path)) as Node;
          setAt(record, target, v.value);
          out.push({ record, description: `${showPath(node.path)} = ${JSON.stringify(v.value)} (${v.file})`, signature: `vector ${v.file} ${JSON.stringify(v.value)} @ ${shapePath(node.path)}`, where: shapePath(node.path) });
        }
      }
    }
  }
  return out;
}

/** Every seed with each value, one at a time, deleted, nulled, and retyped (distinct by collection and path shape). */
function structuralSweep(seeds: readonly JsonObject[]): Mutant[] {
  const out: Mutant[] = [];
  const seen = new Set<string>();
  const replacements: [string, Json | undefined][] = [['delete', undefined], ['null', null], ['1', 1], ['"x"', 'x'], ['[]', []], ['{}', {}], ['1.5', 1.5]];
  for (const seed of seeds) {
    for (const node of nodesOf(seed)) {
      if (node.parent === undefined) continue;
      for (const [name, replacement] of replacements) {
        const key = `${shapePath(node.path)} ${name}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const record = clone(seed);
        const target = nodesOf(record).find((n) => showPath(n.path) === showPath(node.path)) as Node;
        setAt(record, target, replacement === undefined ? undefined : clone(replacement));
        out.push({ record, description: `${name === 'delete' ? 'delete' : `set to ${name}`} ${showPath(node.path)}`, signature: `sweep ${name} @ ${shapePath(node.path)}`, where: shapePath(node.path) });
      }
    }
  }
  return out;
}

/** Every seed with each length-limited string set to every unit, at and one past every limit that key has. */
function lengthSweep(seeds: readonly JsonObject[]): Mutant[] {
  const out: Mutant[] = [];
  const seen = new Set<string>();
  for (const seed of seeds) {
    for (const node of nodesOf(seed)) {
      const limits = own(KEY_LIMITS, node.field);
      if (typeof node.value !== 'string' || limits === undefined || node.path.at(-1) === '$type') continue;
      const shape = shapePath(node.path);
      if (seen.has(shape)) continue;
      seen.add(shape);
      for (const unit of UNITS) {
        const texts: [string, string][] = [];
        for (const g of limits.graphemes) for (const n of [g, g + 1]) texts.push([`${unit.name} x ${n} (maxGraphemes ${g})`, unit.text.repeat(n)]);
        for (const b of limits.bytes) {
          for (const target of [b, b + 1]) {
            const fit = unit.text.repeat(Math.floor(target / utf8Bytes(unit.text)));
            const text = fit + 'a'.repeat(target - utf8Bytes(fit));
            texts.push([`${unit.name} to ${target} bytes (maxLength ${b})`, text]);
          }
        }
        for (const [label, text] of texts) {
          const record = clone(seed);
          const target = nodesOf(record).find((n) => showPath(n.path) === showPath(node.path)) as Node;
          setAt(record, target, text);
          out.push({ record, description: `${showPath(node.path)} = ${label}`, signature: `length ${label} @ ${shape}`, where: shape });
        }
      }
    }
  }
  return out;
}

/** Every blob in the seeds with each CID edge case as its ref, each mimeType, each size, and the legacy form. */
function blobSweep(seeds: readonly JsonObject[]): Mutant[] {
  const out: Mutant[] = [];
  const seen = new Set<string>();
  for (const seed of seeds) {
    for (const node of nodesOf(seed)) {
      if (!isObject(node.value) || node.value['$type'] !== 'blob') continue;
      const shape = shapePath(node.path);
      if (seen.has(shape)) continue;
      seen.add(shape);
      const variants: [string, (b: JsonObject) => Json][] = [
        ...CID_EDGES.map((c): [string, (b: JsonObject) => Json] => [`ref ${c.file}`, (b) => ({ ...b, ref: { $link: c.value } })]),
        ...MIME_TYPES.map((m): [string, (b: JsonObject) => Json] => [`mimeType ${m}`, (b) => ({ ...b, mimeType: m })]),
        ...SIZES.map((z): [string, (b: JsonObject) => Json] => [`size ${JSON.stringify(z)}`, (b) => ({ ...b, size: z })]),
        ['legacy', (b) => ({ cid: RAW, mimeType: b['mimeType'] ?? 'image/png' })],
        ['legacy dag-cbor cid', (b) => ({ cid: CID, mimeType: b['mimeType'] ?? 'image/png' })],
        ['ref as string', (b) => ({ ...b, ref: RAW })],
      ];
      for (const [name, change] of variants) {
        const record = clone(seed);
        const target = nodesOf(record).find((n) => showPath(n.path) === showPath(node.path)) as Node;
        setAt(record, target, change(target.value as JsonObject));
        out.push({ record, description: `${showPath(node.path)} ${name}`, signature: `blob ${name} @ ${shape}`, where: shape });
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Comparison

interface Disagreement {
  collection: string;
  description: string;
  signature: string;
  where: string;
  record: Json;
  ours: string | undefined;
  oracle: boolean;
}

/** Ours sees the record as our lex-JSON decoding hands it over: parsed JSON (a `__proto__` key is an own key). */
const ourProblem = (collection: string, record: Json): string | undefined => bskyRecordProblem(collection, JSON.parse(JSON.stringify(record)));
const oursAccepts = (collection: string, record: Json): boolean => ourProblem(collection, record) === undefined;

/** The smallest record (keys and items removed one by one, strings shortened) on which the two still disagree. */
function shrink(collection: string, record: Json, oracle: AppviewRecordCheck): Json {
  const differs = (r: Json) => oursAccepts(collection, r) !== oracle(collection, r);
  let current = clone(record);
  let changed = true;
  while (changed) {
    changed = false;
    for (const node of nodesOf(current)) {
      if (node.parent === undefined) continue;
      const attempts: (Json | undefined)[] = [undefined];
      if (typeof node.value === 'string' && node.value.length > 64) attempts.push(node.value.slice(0, Math.ceil(node.value.length / 2)), node.value.slice(Math.floor(node.value.length / 2)));
      if (Array.isArray(node.value) && node.value.length > 2) attempts.push(node.value.slice(0, Math.ceil(node.value.length / 2)));
      for (const attempt of attempts) {
        const candidate = clone(current);
        const target = nodesOf(candidate).find((n) => showPath(n.path) === showPath(node.path));
        if (target === undefined) continue;
        const next = setAt(candidate, target, attempt === undefined ? undefined : clone(attempt));
        if (differs(next)) {
          current = next;
          changed = true;
          break;
        }
      }
      if (changed) break;
    }
  }
  return current;
}

const abbreviate = (json: string, max = 600): string => (json.length <= max ? json : `${json.slice(0, max)}… (${json.length} chars)`);

describe('lexicon checks against the AppView (@atproto/bsky schemas, strict)', () => {
  let oracle: AppviewRecordCheck;
  let cborOracle: AppviewCborRecordCheck;
  beforeAll(async () => {
    oracle = await loadAppviewRecordCheck();
    cborOracle = await loadAppviewCborRecordCheck();
  });

  it('has seeds for exactly the AppView collections', () => {
    expect(Object.keys(SEEDS).sort()).toEqual([...APPVIEW_RECORD_COLLECTIONS].sort());
  });

  it('accepts every hand-written seed, as the AppView does', () => {
    const rejected: string[] = [];
    for (const [collection, seeds] of Object.entries(SEEDS)) {
      seeds.forEach((seed, i) => {
        const ours = bskyRecordProblem(collection, seed);
        const theirs = oracle(collection, seed);
        if (ours !== undefined || !theirs) rejected.push(`${collection} seed ${i}: ours ${ours ?? 'accepts'}; AppView ${theirs ? 'accepts' : 'rejects'}`);
      });
    }
    expect(rejected).toEqual([]);
  });

  // lexParse refuses a `__proto__` key, so the lex-JSON oracle cannot judge one. The firehose decoder the AppView
  // runs (@atproto/repo cborToLexRecord) assigns it: a map or array value becomes the object's prototype (a schema then
  // refuses the object as not plain), any other value is dropped. Ours decodes the same bytes (decodeLex) and checks.
  it('agrees with the AppView on records with a __proto__ key, judged from their DAG-CBOR bytes', () => {
    const post = `"$type":"app.bsky.feed.post","text":"hi","createdAt":"${NOW}"`;
    const ref = `"uri":"${POST_URI}","cid":"${CID}"`;
    const blobJson = `"$type":"blob","ref":{"$link":"${RAW}"},"mimeType":"image/png","size":10`;
    const cases: [string, string][] = [];
    for (const value of ['1', '"s"', 'true', 'null', '{}', '{"x":1}', '[]']) {
      cases.push(
        ['app.bsky.graph.block', `{"$type":"app.bsky.graph.block","subject":"${DID}","createdAt":"${NOW}","__proto__":${value}}`],
        ['app.bsky.feed.post', `{${post},"reply":{"root":{${ref},"__proto__":${value}},"parent":{${ref}}}}`],
        ['app.bsky.feed.post', `{${post},"facets":[{"index":{"byteStart":0,"byteEnd":1},"features":[{"$type":"app.bsky.richtext.facet#mention","did":"${DID}","__proto__":${value}}]}]}`],
        ['app.bsky.feed.post', `{${post},"embed":{"$type":"app.bsky.embed.images","images":[{"alt":"","image":{${blobJson},"__proto__":${value}}}]}}`],
        ['app.bsky.feed.post', `{${post},"extra":{"__proto__":${value}}}`],
      );
    }
    const differences: string[] = [];
    for (const [collection, json] of cases) {
      const bytes = encodeCbor(lexToCbor(JSON.parse(json) as JsonValue));
      const theirs = cborOracle(collection, bytes);
      let ours: string | undefined;
      try {
        ours = bskyRecordProblem(collection, decodeLex(bytes));
      } catch (err) {
        ours = `decodeLex throws: ${String(err)}`;
      }
      if ((ours === undefined) !== theirs) differences.push(`${collection} ${json}\n   AppView ${theirs ? 'ACCEPTS' : 'REJECTS'}; ours ${ours ?? 'accepts'}`);
    }
    expect(differences, `${differences.length} of ${cases.length} records judged differently:\n${differences.join('\n')}`).toEqual([]);
  });

  // lex-JSON cannot tell a CID link (CBOR tag 42) from a plain map whose only key is "$link" (nor bytes from one whose
  // only key is "$bytes"), and the lexicon check sees only lex-JSON; the AppView decodes the bytes, so a plain map is
  // never a link to it. decodeLex refuses such a map, so the record is invalid before any lexicon check.
  it('agrees with the AppView on a blob ref that is a plain {"$link"} map, judged from its DAG-CBOR bytes', () => {
    const differences: string[] = [];
    for (const link of [RAW, CID, `b${RAW.slice(1).toUpperCase()}`]) {
      for (const ref of [{ $link: link }, Cid.parse(link.toLowerCase())]) {
        const record = { $type: 'app.bsky.actor.profile', avatar: { $type: 'blob', ref, mimeType: 'image/png', size: 10 } };
        const bytes = encodeCbor(record); // a CID is tag 42; {"$link"} is encoded as a map
        const theirs = cborOracle('app.bsky.actor.profile', bytes);
        let ours: string | undefined;
        try {
          ours = bskyRecordProblem('app.bsky.actor.profile', decodeLex(bytes));
        } catch (err) {
          ours = `decodeLex throws: ${String(err)}`;
        }
        if ((ours === undefined) !== theirs) differences.push(`${JSON.stringify(record)}\n   AppView ${theirs ? 'ACCEPTS' : 'REJECTS'}; ours ${ours ?? 'accepts'}`);
      }
    }
    expect(differences).toEqual([]);
  });

  // No AppView record has a cid-link or bytes field, so these are judged as @atproto/lexicon judges a record the
  // AppView's firehose decoder (@atproto/repo cborToLexRecord) read from its bytes, on a lexicon that has them.
  it('agrees with @atproto/lexicon on a cid-link or bytes field that is a plain {"$link"} / {"$bytes"} map', async () => {
    const lexicon = {
      lexicon: 1,
      id: 'com.example.linked',
      defs: { main: { type: 'record', key: 'tid', record: { type: 'object', required: ['link'], properties: { link: { type: 'cid-link' }, data: { type: 'bytes' } } } } },
    };
    const { Lexicons } = await import('@atproto/lexicon');
    const { cborToLexRecord } = await import('@atproto/repo');
    const reference = new Lexicons([lexicon as never]);
    const validator = compileLexicons([lexicon]);
    const link = Cid.parse(CID);
    const records: [string, Record<string, unknown>][] = [
      ['a link', { link }],
      ['a link and bytes', { link, data: Uint8Array.from([1, 2]) }],
      ['a {"$link"} map as the link', { link: { $link: CID } }],
      ['a {"$bytes"} map as the bytes', { link, data: { $bytes: 'AQI' } }],
    ];
    const verdicts = records.map(([what, fields]) => {
      const bytes = encodeCbor({ $type: 'com.example.linked', ...fields });
      let theirs: boolean;
      try {
        reference.assertValidRecord('com.example.linked', cborToLexRecord(bytes));
        theirs = true;
      } catch {
        theirs = false;
      }
      let ours: boolean;
      try {
        ours = validator.recordProblem('com.example.linked', decodeLex(bytes)) === undefined;
      } catch {
        ours = false;
      }
      return `${what}: reference ${theirs ? 'accepts' : 'refuses'}, ours ${ours ? 'accepts' : 'refuses'}`;
    });
    expect(verdicts).toEqual([
      'a link: reference accepts, ours accepts',
      'a link and bytes: reference accepts, ours accepts',
      'a {"$link"} map as the link: reference refuses, ours refuses',
      'a {"$bytes"} map as the bytes: reference refuses, ours refuses',
    ]);
  });

  // Known and on purpose: where the lexicon leaves the value open (an unknown-typed or undeclared field), the AppView
  // keeps such a map as a plain object; we refuse the record, because its lex-JSON would carry a link (or bytes) that
  // its author never wrote to everything downstream.
  it('differs from the AppView only where such a map sits in an open field (known)', () => {
    const post = { $type: 'app.bsky.feed.post', text: 'hi', createdAt: NOW };
    for (const extra of [{ $link: CID }, { $bytes: 'AQI' }]) {
      const bytes = encodeCbor({ ...post, extra });
      expect(cborOracle('app.bsky.feed.post', bytes)).toBe(true);
      expect(() => decodeLex(bytes)).toThrow(/JSON form/);
    }
  });

  it(`agrees with the AppView on mutated records (seed ${SEED}; LEXICON_ORACLE_SEED replays)`, () => {
    console.log(`lexicon oracle seed: ${SEED} (replay with LEXICON_ORACLE_SEED=${SEED})`);
    const root = createRandom(SEED);
    const disagreements: Disagreement[] = [];
    const tally = new Map<string, { accepted: number; rejected: number; cases: number }>();
    let total = 0;
    for (const collection of APPVIEW_RECORD_COLLECTIONS) {
      const seeds = SEEDS[collection] as JsonObject[];
      const random = root.fork(collection);
      const mutants: Mutant[] = [...formatSweep(collection, seeds), ...structuralSweep(seeds), ...lengthSweep(seeds), ...blobSweep(seeds)];
      for (let i = 0; i < MUTANTS_PER_COLLECTION; i++) {
        let current: Json = random.pick(seeds);
        const rounds = random.chance(0.75) ? 1 : random.chance(0.6) ? 2 : 3;
        const steps: Mutant[] = [];
        for (let r = 0; r < rounds; r++) {
          const m = mutate(random, collection, current);
          steps.push(m);
          current = m.record;
        }
        mutants.push({
          record: current,
          description: steps.map((s) => s.description).join('; '),
          signature: steps.map((s) => s.signature).join(' + '),
          where: [...new Set(steps.map((s) => s.where))].sort().join(' + '),
        });
      }
      const counts = { accepted: 0, rejected: 0, cases: mutants.length };
      for (const m of mutants) {
        const ours = ourProblem(collection, m.record);
        const theirs = oracle(collection, m.record);
        if (theirs) counts.accepted++;
        else counts.rejected++;
        if ((ours === undefined) !== theirs) disagreements.push({ collection, description: m.description, signature: m.signature, where: m.where, record: m.record, ours, oracle: theirs });
      }
      total += mutants.length;
      tally.set(collection, counts);
    }
    console.log(`lexicon oracle: ${total} mutated records; per collection ${[...tally].map(([c, t]) => `${c} ${t.cases} (${t.accepted} accepted)`).join(', ')}`);

    // The corpus can fail: every collection has records the AppView accepts and records it rejects.
    for (const [collection, t] of tally) {
      expect(t.accepted, `${collection}: no mutant is accepted`).toBeGreaterThan(0);
      expect(t.rejected, `${collection}: no mutant is rejected`).toBeGreaterThan(0);
    }

    // Group by where the records were changed and which side accepts (single-step mutants first, as the simplest),
    // and shrink the first example of each group.
    const groups = new Map<string, Disagreement[]>();
    const sorted = [...disagreements].sort((a, b) => a.where.split(' + ').length - b.where.split(' + ').length || a.signature.split(' + ').length - b.signature.split(' + ').length);
    for (const d of sorted) {
      const key = `${d.collection} ${d.where} ${d.oracle}`;
      const group = groups.get(key);
      if (group === undefined) groups.set(key, [d]);
      else group.push(d);
    }
    const report = [...groups.values()].slice(0, 60).map((group, i) => {
      const d = group[0] as Disagreement;
      const small = shrink(d.collection, d.record, oracle);
      const smallProblem = ourProblem(d.collection, small);
      return [
        `${i + 1}. ${d.collection} ${d.where}: AppView ${d.oracle ? 'ACCEPTS' : 'REJECTS'}, ours ${d.oracle ? 'rejects' : 'accepts'} (${group.length} records)`,
        ...group.slice(0, 3).map((g) => `   e.g. ${abbreviate(g.description, 160)}${g.ours === undefined ? '' : ` -> ours: ${g.ours}`}`),
        `   shrunk: ${abbreviate(JSON.stringify(small), 300)}  (ours: ${smallProblem ?? 'accepts'}; AppView ${oracle(d.collection, small) ? 'accepts' : 'rejects'})`,
      ].join('\n');
    });
    if (disagreements.length > 0) {
      console.log(`lexicon oracle: ${disagreements.length} disagreements in ${groups.size} groups\n${report.join('\n')}`);
    }
    expect(disagreements.length, `${disagreements.length} of ${total} records judged differently (${groups.size} kinds; first 60 groups shown):\n${report.join('\n')}`).toBe(0);
  });
});
