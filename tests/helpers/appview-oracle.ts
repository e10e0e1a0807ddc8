// The AppView as an oracle of the index: the same stream events through skytide's index (indexBatch, in the batches
// given) and through @atproto/bsky's IndexingService on its own schema and migrations (one event at a time, in stream
// order, as its RepoSubscription applies them: create -> indexRecord(Create), update -> indexRecord(Update), delete
// -> deleteRecord; its background aggregate recounts drained after each), then the tables both write, read alike.
// Both index with the events' times, so indexedAt-derived columns compare too (sortAt: the lesser of createdAt and the
// event's time); only what the AppView dates by its own clock is left out.
import { CID } from 'multiformats/cid';
import type { StreamEvent } from '../../functions/events.ts';
import { indexBatch } from '../../functions/index/handler.ts';
import { createIndexDb } from './index-db.ts';
import { createSql } from '../../adapters/postgres/client.ts';
import { createAppViewSchema, loadBsky, type AppViewDatabase, type AppViewSchema } from './appview-schema.ts';

interface AppViewIndexing {
  indexRecord(uri: unknown, cid: unknown, obj: unknown, action: unknown, timestamp: string): Promise<void>;
  deleteRecord(uri: unknown): Promise<void>;
}

/** The tables compared, each read by one query in a stable order. */
export const COMPARE: Record<string, string> = {
  // sortAt of every reason but unverified, which the AppView dates by its clock.
  notification: `select did, author, "recordUri", "recordCid", reason, "reasonSubject", case when reason <> 'unverified' then "sortAt" end as "sortAt"
    from notification order by 1,2,3,4,5,6,7`,
  post_agg: `select uri, "likeCount", "replyCount", "repostCount", "quoteCount" from post_agg where "likeCount" <> 0 or "replyCount" <> 0 or "repostCount" <> 0 or "quoteCount" <> 0 order by uri`,
  profile_agg: `select did, "followersCount", "followsCount", "postsCount" from profile_agg where "followersCount" <> 0 or "followsCount" <> 0 or "postsCount" <> 0 order by did`,
  post: `select uri, cid, "createdAt", "replyRoot", "replyParent", "hasThreadGate", "hasPostGate", "violatesThreadGate", "violatesEmbeddingRules", "invalidReplyRoot" from post order by uri`,
  like: `select uri, cid, subject, via, "createdAt" from "like" order by uri`,
  repost: `select uri, cid, subject, via, "createdAt" from repost order by uri`,
  feed_item: `select uri, cid, type, "postUri", "originatorDid", "sortAt" from feed_item order by uri`,
  follow: `select uri, cid, "subjectDid", "createdAt" from follow order by uri`,
  actor_block: `select uri, cid, "subjectDid", "createdAt" from actor_block order by uri`,
  profile: `select uri, cid, "displayName", "joinedViaStarterPackUri", "pinnedPost", "createdAt" from profile order by uri`,
  list: `select uri, cid, name, purpose, description, "createdAt" from list order by uri`,
  list_item: `select uri, cid, "subjectDid", "listUri", "createdAt" from list_item order by uri`,
  list_block: `select uri, cid, "subjectUri", "createdAt" from list_block order by uri`,
  feed_generator: `select uri, cid, "feedDid", "displayName", description, "createdAt" from feed_generator order by uri`,
  starter_pack: `select uri, cid, name, "createdAt" from starter_pack order by uri`,
  thread_gate: `select uri, cid, "postUri", "createdAt" from thread_gate order by uri`,
  post_gate: `select uri, cid, "postUri", "createdAt" from post_gate order by uri`,
  labeler: `select uri, cid, "createdAt" from labeler order by uri`,
  verification: `select uri, cid, subject, handle, "displayName", "createdAt" from verification order by uri`,
  quote: `select uri, cid, subject, "subjectCid", "createdAt" from quote order by uri`,
  post_embed_record: `select "postUri", "embedUri", "embedCid" from post_embed_record order by 1,2`,
  post_embed_image: `select "postUri", position, "imageCid", alt from post_embed_image order by 1,2`,
  post_embed_external: `select "postUri", uri, title, description, "thumbCid" from post_embed_external order by 1,2`,
  post_embed_video: `select "postUri", "videoCid", alt from post_embed_video order by 1,2`,
};

export type Tables = Record<string, unknown[]>;

/**
 * Indexes `events` with the AppView's own IndexingService into its schema `app`, one event at a time in stream order
 * (create -> indexRecord(Create), update -> indexRecord(Update), delete -> deleteRecord), its background aggregate
 * recounts drained after each. Identity and account events are skipped: its identity is not under test.
 */
export async function indexWithAppView(app: AppViewSchema, events: readonly StreamEvent[]): Promise<void> {
  const { BackgroundQueue } = await loadBsky<{ BackgroundQueue: new (db: AppViewDatabase, opts?: { concurrency: number }) => { processAll(): Promise<void> } }>('index.js');
  const { IndexingService } = await loadBsky<{ IndexingService: new (db: AppViewDatabase, idResolver: unknown, background: unknown) => AppViewIndexing }>('data-plane/server/indexing/index.js');
  const { WriteOpAction } = (await import('@atproto/repo')) as unknown as { WriteOpAction: { Create: unknown; Update: unknown } };
  const { AtUri } = (await import('@atproto/syntax')) as unknown as { AtUri: new (uri: string) => unknown };
  const { lexParse } = (await import('@atproto/lex')) as unknown as { lexParse: (json: string) => unknown };
  const db = new app.Database({ url: app.url, schema: app.schema, poolSize: 2 });
  try {
    const background = new BackgroundQueue(db, { concurrency: 1 });
    const service = new IndexingService(db, {}, background);
    for (const e of events) {
      if (e.type !== 'create' && e.type !== 'update' && e.type !== 'delete') continue;
      const uri = new AtUri(`at://${e.did}/${e.collection}/${e.rkey}`);
      if (e.type === 'delete') await service.deleteRecord(uri);
      else await service.indexRecord(uri, CID.parse(e.cid), lexParse(JSON.stringify(e.record)), e.type === 'create' ? WriteOpAction.Create : WriteOpAction.Update, e.time);
      await background.processAll();
    }
  } finally {
    await db.close();
  }
}

/** Both indexes of the same events, each in fresh tables: skytide's given `batches`, the AppView's one event at a time. */
export async function indexBoth(batches: readonly (readonly StreamEvent[])[]): Promise<{ skytide: Tables; appview: Tables }> {
  const sky = await createIndexDb('appview_oracle');
  // Its own database: another file dropping a schema while the AppView's migrator introspects fails it.
  const app = await createAppViewSchema({ ownDatabase: true });
  try {
    for (const batch of batches) {
      const { outcomes } = await indexBatch(batch, sky.ports);
      const refused = outcomes.filter((o) => o.status !== 'ok');
      if (refused.length > 0) throw new Error(`skytide refused: ${JSON.stringify(refused)}`);
    }
    await indexWithAppView(app, batches.flat());
    const url = new URL(app.url);
    url.searchParams.set('options', `-c search_path=${app.schema}`);
    const appSql = createSql(url.toString(), { max: 1 });
    const out = { skytide: {} as Tables, appview: {} as Tables };
    try {
      for (const [table, query] of Object.entries(COMPARE)) {
        out.skytide[table] = await sky.sql.query(query);
        out.appview[table] = await appSql.query(query);
      }
    } finally {
      await appSql.end();
    }
    return out;
  } finally {
    await sky.close();
    await app.drop();
  }
}
