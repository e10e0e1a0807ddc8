// The whole-database oracle of the chaos suite: every AppView table the index writes, as a correct pipeline must
// leave it, computed from what the PDS holds (listRecords, describeRepo, getLatestCommit) by a model written here
// independently of functions/index; then the same tables read from Postgres, and a table-by-table diff that names
// the first differing rows. Columns that record when skytide saw something (indexedAt, sortAt) are left out: they
// depend on arrival, not on the data. Aggregates are compared exactly (a zero row and no row mean the same count):
// a count one too high is an event applied twice. A deleted account leaves no row in any table, and the aggregate
// rows keyed by its records and its DID go too (issue 8, items 7 and 8).
import { AtpAgent } from '@atproto/api';
import { lexToJson } from '@atproto/lexicon';
import { MemoryBlockstore, readCarWithRoot, Repo } from '@atproto/repo';
import type { Sql } from '../../functions/ports.ts';
import { duplicateUris, type TruthRecord } from './pds-truth.ts';
import { checkRows } from '../../functions/sql-rows.ts';

export type Row = Record<string, unknown>;

export interface TableSpec {
  /** Columns compared, in this order; the first `key` of them identify a row. */
  columns: string[];
  key: number;
  /** SQL filter of rows that carry no information (zero aggregates). */
  where?: string;
  /** Columns holding JSON text to compare parsed. */
  json?: string[];
}

/** Every table the index writes, with the columns that must equal the truth. */
export const TABLES: Record<string, TableSpec> = {
  record: { columns: ['uri', 'cid', 'did', 'json'], key: 1, json: ['json'] },
  actor: { columns: ['did', 'handle', 'upstreamStatus'], key: 1 },
  actor_sync: { columns: ['did', 'commitCid', 'repoRev'], key: 1 },
  post: { columns: ['uri', 'cid', 'creator', 'text', 'replyRoot', 'replyRootCid', 'replyParent', 'replyParentCid', 'langs', 'tags', 'createdAt'], key: 1 },
  post_embed_image: { columns: ['postUri', 'position', 'imageCid', 'alt'], key: 2 },
  post_embed_external: { columns: ['postUri', 'uri', 'title', 'description', 'thumbCid'], key: 1 },
  post_embed_record: { columns: ['postUri', 'embedUri', 'embedCid'], key: 2 },
  post_embed_video: { columns: ['postUri', 'videoCid', 'alt'], key: 1 },
  quote: { columns: ['uri', 'cid', 'subject', 'subjectCid', 'createdAt'], key: 1 },
  feed_item: { columns: ['uri', 'cid', 'type', 'postUri', 'originatorDid'], key: 1 },
  like: { columns: ['uri', 'cid', 'creator', 'subject', 'subjectCid', 'via', 'viaCid', 'createdAt'], key: 1 },
  repost: { columns: ['uri', 'cid', 'creator', 'subject', 'subjectCid', 'via', 'viaCid', 'createdAt'], key: 1 },
  follow: { columns: ['uri', 'cid', 'creator', 'subjectDid', 'createdAt'], key: 1 },
  actor_block: { columns: ['uri', 'cid', 'creator', 'subjectDid', 'createdAt'], key: 1 },
  profile: {
    columns: ['uri', 'cid', 'creator', 'displayName', 'description', 'avatarCid', 'bannerCid', 'joinedViaStarterPackUri', 'pinnedPost', 'pinnedPostCid', 'createdAt'],
    key: 1,
  },
  post_agg: {
    columns: ['uri', 'likeCount', 'replyCount', 'repostCount', 'quoteCount', 'bookmarkCount'], key: 1,
    where: `"likeCount" <> 0 or "replyCount" <> 0 or "repostCount" <> 0 or "quoteCount" <> 0 or "bookmarkCount" <> 0`,
  },
  profile_agg: { columns: ['did', 'followersCount', 'followsCount', 'postsCount'], key: 1, where: `"followersCount" <> 0 or "followsCount" <> 0 or "postsCount" <> 0` },
};

export interface AccountTruth {
  did: string;
  /**
   * The handle of the DID document, when it resolves back to the DID (both directions, as skytide must check). A
   * deactivated account's handle does not resolve; nothing re-verifies it while the account is away, so the one it
   * had (its document's) is expected to stay.
   */
  handle: string | null;
  /** null when active, else the PDS's status (`deactivated`, ...). */
  status: string | null;
  commit: { cid: string; rev: string };
}

export interface PdsTruth {
  accounts: AccountTruth[];
  records: TruthRecord[];
  /** Accounts the PDS deleted: no row of theirs may remain. */
  deleted: string[];
  /**
   * Every op on a post the PDS emitted, per URI, in stream order (firehose-tap.ts): the seq and the CID written (null:
   * a delete). The AppView deletes the quote rows naming a post when the post is deleted or updated to another CID,
   * and only a quote written after that keeps its row. Without it, no quote row is taken as purged.
   */
  postOps?: ReadonlyMap<string, readonly { seq: number; cid: string | null }[]>;
}

export interface TruthSource {
  pdsUrl: string;
  plcUrl: string;
  /** Basic auth for the PDS's admin routes: getRepo of a deactivated account needs it. */
  adminAuth: string;
}

/** The DID document's handle (its first at:// alias), if the PDS resolves that handle back to the DID. */
async function documentHandle(agent: AtpAgent, plcUrl: string, did: string, verify: boolean): Promise<string | null> {
  const res = await fetch(`${plcUrl}/${did}`);
  if (!res.ok) throw new Error(`PLC answered ${res.status} for ${did}`);
  const doc = (await res.json()) as { alsoKnownAs?: string[] };
  const aka = doc.alsoKnownAs?.find((a) => a.startsWith('at://'));
  if (aka === undefined) return null;
  const handle = aka.slice('at://'.length).toLowerCase();
  if (!verify) return handle;
  try {
    const { data } = await agent.com.atproto.identity.resolveHandle({ handle });
    return data.did === did ? handle : null;
  } catch {
    return null;
  }
}

/** Every record of a repo and its commit, from the whole repo (getRepo, as the admin), read with @atproto/repo. */
async function readWholeRepo(src: TruthSource, did: string): Promise<{ commit: { cid: string; rev: string }; records: TruthRecord[] }> {
  const res = await fetch(`${src.pdsUrl}/xrpc/com.atproto.sync.getRepo?did=${encodeURIComponent(did)}`, { headers: { authorization: src.adminAuth } });
  if (!res.ok) throw new Error(`getRepo ${did}: HTTP ${res.status} ${await res.text()}`);
  const { root, blocks } = await readCarWithRoot(new Uint8Array(await res.arrayBuffer()));
  const repo = await Repo.load(new MemoryBlockstore(blocks), root);
  const records: TruthRecord[] = [];
  for await (const r of repo.walkRecords()) {
    records.push({ uri: `at://${did}/${r.collection}/${r.rkey}`, cid: r.cid.toString(), did, collection: r.collection, value: lexToJson(r.record as never) as Record<string, unknown> });
  }
  return { commit: { cid: root.toString(), rev: repo.commit.rev }, records };
}

/**
 * Reads the truth of these accounts (the deleted ones only by DID): each repo whole, in one snapshot with its latest
 * commit; its status; its handle from the PLC directory, checked against the PDS's handle resolution. (describeRepo's
 * handleIsCorrect reads a DID cache of the PDS's that a handle change does not always refresh, and listRecords
 * refuses deactivated accounts.)
 */
export async function readPdsTruth(src: TruthSource, dids: readonly string[], deleted: readonly string[]): Promise<PdsTruth> {
  const agent = new AtpAgent({ service: src.pdsUrl });
  const accounts: AccountTruth[] = [];
  const records: TruthRecord[] = [];
  for (const did of dids) {
    if (deleted.includes(did)) continue;
    const { data: st } = await agent.com.atproto.sync.getRepoStatus({ did });
    const repo = await readWholeRepo(src, did);
    accounts.push({ did, handle: await documentHandle(agent, src.plcUrl, did, st.active), status: st.active ? null : (st.status ?? 'inactive'), commit: repo.commit });
    records.push(...repo.records);
  }
  return { accounts, records, deleted: [...deleted] };
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined);
const strongRef = (v: unknown): { uri: string; cid: string } | undefined => {
  const o = obj(v);
  return typeof o?.['uri'] === 'string' && typeof o['cid'] === 'string' ? { uri: o['uri'], cid: o['cid'] } : undefined;
};
const blobCid = (v: unknown): string | undefined => {
  const link = obj(obj(v)?.['ref'])?.['$link'];
  return typeof link === 'string' ? link : undefined;
};
const didOfUri = (uri: string) => uri.split('/')[2] ?? '';
const collectionOfUri = (uri: string) => uri.split('/')[3] ?? '';
const iso = (v: unknown) => (typeof v === 'string' ? new Date(Date.parse(v)).toISOString() : '1970-01-01T00:00:00.000Z');

/** The rows each table must hold, from the PDS's truth alone. */
export function expectedTables(truth: PdsTruth): Record<string, Row[]> {
  const t: Record<string, Row[]> = Object.fromEntries(Object.keys(TABLES).map((k) => [k, [] as Row[]]));
  const deleted = new Set(truth.deleted);
  const postAgg = new Map<string, Row>();
  const profileAgg = new Map<string, Row>();
  const bumpPost = (uri: string, k: string) => {
    const row = postAgg.get(uri) ?? { uri, likeCount: 0, replyCount: 0, repostCount: 0, quoteCount: 0, bookmarkCount: 0 };
    row[k] = (row[k] as number) + 1;
    postAgg.set(uri, row);
  };
  const bumpProfile = (did: string, k: string) => {
    const row = profileAgg.get(did) ?? { did, followersCount: 0, followsCount: 0, postsCount: 0 };
    row[k] = (row[k] as number) + 1;
    profileAgg.set(did, row);
  };

  for (const a of truth.accounts) {
    t['actor']!.push({ did: a.did, handle: a.handle, upstreamStatus: a.status });
    t['actor_sync']!.push({ did: a.did, commitCid: a.commit.cid, repoRev: a.commit.rev });
  }
  // One row per subject (pds-truth.ts): a duplicate has its record row only.
  const duplicates = duplicateUris(truth.records);
  const purged = purgedQuote(truth.postOps);
  for (const r of truth.records) {
    const v = r.value;
    t['record']!.push({ uri: r.uri, cid: r.cid, did: r.did, json: v });
    if (duplicates.has(r.uri)) continue;
    switch (r.collection) {
      case 'app.bsky.feed.post': {
        const reply = obj(v['reply']);
        const root = strongRef(reply?.['root']);
        const parent = strongRef(reply?.['parent']);
        const createdAt = iso(v['createdAt']);
        t['post']!.push({
          uri: r.uri, cid: r.cid, creator: r.did, text: v['text'], replyRoot: root?.uri ?? null, replyRootCid: root?.cid ?? null,
          replyParent: parent?.uri ?? null, replyParentCid: parent?.cid ?? null, langs: v['langs'] ?? null, tags: v['tags'] ?? null, createdAt,
        });
        t['feed_item']!.push({ uri: r.uri, cid: r.cid, type: 'post', postUri: r.uri, originatorDid: r.did });
        bumpProfile(r.did, 'postsCount');
        if (parent !== undefined) bumpPost(parent.uri, 'replyCount');
        const embed = obj(v['embed']);
        const images = (e: Json | undefined) => {
          if (e?.['$type'] !== 'app.bsky.embed.images') return;
          (e['images'] as Json[]).forEach((img, i) => t['post_embed_image']!.push({ postUri: r.uri, position: String(i), imageCid: blobCid(img['image']), alt: img['alt'] ?? '' }));
        };
        const quoted = embed?.['$type'] === 'app.bsky.embed.record' ? strongRef(embed['record'])
          : embed?.['$type'] === 'app.bsky.embed.recordWithMedia' ? strongRef(obj(embed['record'])?.['record']) : undefined;
        if (quoted !== undefined) {
          t['post_embed_record']!.push({ postUri: r.uri, embedUri: quoted.uri, embedCid: quoted.cid });
          if (collectionOfUri(quoted.uri) === 'app.bsky.feed.post' && !purged(r.uri, r.cid, quoted.uri)) {
            t['quote']!.push({ uri: r.uri, cid: r.cid, subject: quoted.uri, subjectCid: quoted.cid, createdAt });
            bumpPost(quoted.uri, 'quoteCount');
          }
        }
        if (embed?.['$type'] === 'app.bsky.embed.recordWithMedia') images(obj(embed['media']));
        else images(embed);
        if (embed?.['$type'] === 'app.bsky.embed.external') {
          const ext = obj(embed['external'])!;
          t['post_embed_external']!.push({ postUri: r.uri, uri: ext['uri'], title: ext['title'] ?? '', description: ext['description'] ?? '', thumbCid: blobCid(ext['thumb']) ?? null });
        }
        if (embed?.['$type'] === 'app.bsky.embed.video') t['post_embed_video']!.push({ postUri: r.uri, videoCid: blobCid(embed['video']), alt: embed['alt'] ?? null });
        break;
      }
      case 'app.bsky.feed.like':
      case 'app.bsky.feed.repost': {
        const subject = strongRef(v['subject'])!;
        const via = strongRef(v['via']);
        const table = r.collection === 'app.bsky.feed.like' ? 'like' : 'repost';
        t[table]!.push({ uri: r.uri, cid: r.cid, creator: r.did, subject: subject.uri, subjectCid: subject.cid, via: via?.uri ?? null, viaCid: via?.cid ?? null, createdAt: iso(v['createdAt']) });
        if (table === 'repost') t['feed_item']!.push({ uri: r.uri, cid: r.cid, type: 'repost', postUri: subject.uri, originatorDid: r.did });
        bumpPost(subject.uri, table === 'like' ? 'likeCount' : 'repostCount');
        break;
      }
      case 'app.bsky.graph.follow':
        t['follow']!.push({ uri: r.uri, cid: r.cid, creator: r.did, subjectDid: v['subject'], createdAt: iso(v['createdAt']) });
        bumpProfile(v['subject'] as string, 'followersCount');
        bumpProfile(r.did, 'followsCount');
        break;
      case 'app.bsky.graph.block':
        t['actor_block']!.push({ uri: r.uri, cid: r.cid, creator: r.did, subjectDid: v['subject'], createdAt: iso(v['createdAt']) });
        break;
      case 'app.bsky.actor.profile':
        if (r.uri.endsWith('/self')) {
          const pinned = strongRef(v['pinnedPost']);
          t['profile']!.push({
            uri: r.uri, cid: r.cid, creator: r.did, displayName: v['displayName'] ?? null, description: v['description'] ?? null,
            avatarCid: blobCid(v['avatar']) ?? null, bannerCid: blobCid(v['banner']) ?? null,
            joinedViaStarterPackUri: obj(v['joinedViaStarterPack'])?.['uri'] ?? null, pinnedPost: pinned?.uri ?? null, pinnedPostCid: pinned?.cid ?? null,
            createdAt: iso(v['createdAt']),
          });
        }
        break;
    }
  }
  // Counts of subjects that belong to a deleted account are gone with it, whoever created them.
  t['post_agg'] = [...postAgg.values()].filter((r) => !deleted.has(didOfUri(r['uri'] as string)));
  t['profile_agg'] = [...profileAgg.values()].filter((r) => !deleted.has(r['did'] as string));
  return t;
}

/**
 * Whether the quote row of a post (its URI and current CID) naming `subject` went with a removal of the subject (a
 * delete, or a write of another CID) that came after the quote's current version was written, in stream order.
 */
function purgedQuote(postOps: PdsTruth['postOps']): (uri: string, cid: string, subject: string) => boolean {
  if (postOps === undefined) return () => false;
  return (uri, cid, subject) => {
    // Its current version was first written by the first op of the last run of writes of that CID.
    let born = -Infinity;
    let previous: string | null = null;
    for (const op of postOps.get(uri) ?? []) {
      if (op.cid === cid && previous !== cid) born = op.seq;
      previous = op.cid;
    }
    let before: string | null = null;
    for (const op of postOps.get(subject) ?? []) {
      const removal = op.cid === null || (before !== null && before !== op.cid);
      if (removal && op.seq > born) return true;
      before = op.cid;
    }
    return false;
  };
}

/** The same tables as Postgres holds them. */
export async function actualTables(sql: Sql): Promise<Record<string, Row[]>> {
  const out: Record<string, Row[]> = {};
  for (const [table, spec] of Object.entries(TABLES)) {
    const cols = spec.columns.map((c) => `"${c}"`).join(', ');
    const rows = await sql.query(`select ${cols} from "${table}"${spec.where === undefined ? '' : ` where ${spec.where}`}`);
    out[table] = rows.map((row) => {
      const r: Row = { ...row };
      for (const c of spec.json ?? []) r[c] = JSON.parse(r[c] as string);
      for (const c of spec.columns) if (typeof r[c] === 'bigint') r[c] = Number(r[c]);
      return r;
    });
  }
  return out;
}

/** Rows of each deleted DID left in any table, tombstones included (there must be none). */
export async function rowsOfDeleted(sql: Sql, dids: readonly string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  if (dids.length === 0) return out;
  const list = JSON.stringify(dids);
  const inList = (expr: string) => `${expr} in (select json_array_elements_text($1::text::json))`;
  const byUri = (col: string) => inList(`split_part(${col}, '/', 3)`);
  const checks: Record<string, string> = {
    record: inList('did'), record_tombstone: inList('did'), actor: inList('did'), actor_sync: inList('did'), post: inList('creator'), like: inList('creator'),
    repost: inList('creator'), follow: inList('creator'), actor_block: inList('creator'), profile: inList('creator'),
    feed_item: inList('"originatorDid"'), quote: byUri('uri'), post_embed_image: byUri('"postUri"'), post_embed_external: byUri('"postUri"'),
    post_embed_record: byUri('"postUri"'), post_embed_video: byUri('"postUri"'), post_agg: byUri('uri'), profile_agg: inList('did'),
  };
  for (const [table, where] of Object.entries(checks)) {
    const [row] = checkRows(await sql.query(`select count(*)::int as n from "${table}" where ${where}`, [list]), { n: 'number' });
    if ((row?.n ?? 0) > 0) out[table] = row!.n;
  }
  return out;
}

export interface TableDiff {
  table: string;
  expected: number;
  actual: number;
  missing: Row[];
  extra: Row[];
  changed: { expected: Row; actual: Row }[];
}

/** Canonical JSON: object keys sorted, so rows compare by value. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Json)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

export function diffTables(expected: Record<string, Row[]>, actual: Record<string, Row[]>): TableDiff[] {
  return Object.entries(TABLES).map(([table, spec]) => {
    const keyOf = (r: Row) => spec.columns.slice(0, spec.key).map((c) => String(r[c])).join(' ');
    const rowOf = (r: Row) => canonical(Object.fromEntries(spec.columns.map((c) => [c, r[c] ?? null])));
    const want = new Map((expected[table] ?? []).map((r) => [keyOf(r), r]));
    const have = new Map((actual[table] ?? []).map((r) => [keyOf(r), r]));
    const diff: TableDiff = { table, expected: want.size, actual: have.size, missing: [], extra: [], changed: [] };
    for (const [k, r] of want) {
      const a = have.get(k);
      if (a === undefined) diff.missing.push(r);
      else if (rowOf(a) !== rowOf(r)) diff.changed.push({ expected: r, actual: a });
    }
    for (const [k, r] of have) if (!want.has(k)) diff.extra.push(r);
    const order = (rows: Row[]) => rows.sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : 1));
    order(diff.missing);
    order(diff.extra);
    diff.changed.sort((a, b) => (keyOf(a.expected) < keyOf(b.expected) ? -1 : 1));
    return diff;
  });
}

/** The first differing rows of each table that differs, for a failure that explains itself. */
export function describeDiffs(diffs: readonly TableDiff[], perKind = 3): string {
  const short = (r: Row) => {
    const text = canonical(r);
    return text.length > 400 ? `${text.slice(0, 400)}...` : text;
  };
  return diffs
    .filter((d) => d.missing.length + d.extra.length + d.changed.length > 0)
    .map((d) => [
      `${d.table}: expected ${d.expected} rows, found ${d.actual}; ${d.missing.length} missing, ${d.extra.length} extra, ${d.changed.length} different`,
      ...d.missing.slice(0, perKind).map((r) => `  missing   ${short(r)}`),
      ...d.extra.slice(0, perKind).map((r) => `  extra     ${short(r)}`),
      ...d.changed.slice(0, perKind).flatMap((c) => [`  expected  ${short(c.expected)}`, `  found     ${short(c.actual)}`]),
    ].join('\n'))
    .join('\n');
}
