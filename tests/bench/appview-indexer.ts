// The official AppView indexer as a benchmark baseline: `@atproto/bsky`'s IndexingService on its own Postgres schema
// and migrations, fed the stream events the way its RepoSubscription feeds firehose events (handleEvent: index or
// delete the record, set the commit last seen and index the handle, concurrently; events of one DID in order, DIDs
// in parallel through @atproto/sync's MemoryRunner). Its aggregates are recounted in its BackgroundQueue, which a
// round drains before its time stops. The DID resolver answers from memory (the handle resolves back to the DID), so
// no network time is counted. IndexingService is not exported from the package root: it is loaded by file.
import { CID } from 'multiformats/cid';
import type { StreamEvent } from '../../functions/events.ts';
import { analyzeSchema } from '../helpers/index-db.ts';
import { TEST_DATABASE_URL } from '../helpers/services.ts';
import { createSql } from '../../adapters/postgres/client.ts';
import { checkRows } from '../../functions/sql-rows.ts';
import { createAppViewSchema, loadBsky, type AppViewDatabase } from '../helpers/appview-schema.ts';

interface IndexingService {
  indexRecord(uri: unknown, cid: unknown, obj: unknown, action: unknown, timestamp: string): Promise<void>;
  deleteRecord(uri: unknown): Promise<void>;
  setCommitLastSeen(did: string, commit: unknown, rev: string): Promise<void>;
  indexHandle(did: string, timestamp: string): Promise<void>;
}
interface Queue {
  processAll(): Promise<void>;
}
interface Runner {
  addTask(partition: string, task: () => Promise<void>): Promise<void>;
  processAll(): Promise<void>;
}

export interface AppViewIndexer {
  /** The Postgres schema holding its tables. */
  readonly schema: string;
  /** Indexes these events and returns once every one and every background task they queued is done. */
  index(events: readonly StreamEvent[]): Promise<void>;
  /** Gathers planner statistics on its tables, as autovacuum does on a running AppView. */
  analyze(): Promise<void>;
  /**
   * Replaces the rows of its tables with those of the same tables in `schema` (skytide's index of the same events),
   * so that both indexers meet tables of the same size.
   */
  mirror(schema: string): Promise<void>;
  close(): Promise<void>;
}

export async function createAppViewIndexer(): Promise<AppViewIndexer> {
  const { BackgroundQueue } = await loadBsky<{
    BackgroundQueue: new (db: AppViewDatabase, opts?: { concurrency: number }) => Queue;
  }>('index.js');
  const { IndexingService } = await loadBsky<{ IndexingService: new (db: AppViewDatabase, idResolver: unknown, background: Queue) => IndexingService }>(
    'data-plane/server/indexing/index.js',
  );
  const { MemoryRunner } = (await import('@atproto/sync')) as unknown as { MemoryRunner: new () => Runner };
  const { WriteOpAction } = (await import('@atproto/repo')) as unknown as { WriteOpAction: { Create: unknown; Update: unknown } };
  const { AtUri } = (await import('@atproto/syntax')) as unknown as { AtUri: new (uri: string) => unknown };
  const { lexParse } = (await import('@atproto/lex')) as unknown as { lexParse: (json: string) => unknown };

  const { schema, Database, drop } = await createAppViewSchema();
  // The AppView's own default pool (pg's 10 connections), as its dataplane runs it.
  const db = new Database({ url: TEST_DATABASE_URL, schema, poolSize: 10 });
  const background = new BackgroundQueue(db, { concurrency: Number.POSITIVE_INFINITY });
  // Each DID's handle resolves back to it, so the AppView keeps the handle, as skytide's index of a verified handle does.
  const owners = new Map<string, string>();
  const idResolver = {
    did: {
      resolveAtprotoData: async (did: string) => {
        const handle = `${did.slice(-8)}.test`;
        owners.set(handle, did);
        return { did, handle, pds: 'https://pds.invalid', signingKey: '' };
      },
    },
    handle: { resolve: async (handle: string) => owners.get(handle) },
  };
  const service = new IndexingService(db, idResolver, background);

  return {
    schema,
    async index(events) {
      const runner = new MemoryRunner();
      // Turning lex-JSON into the AppView's values is its edge, as parsing the stream entry is ours: both are timed.
      for (const e of events) {
        if (e.type !== 'create' && e.type !== 'update' && e.type !== 'delete') continue;
        const uri = new AtUri(`at://${e.did}/${e.collection}/${e.rkey}`);
        void runner.addTask(e.did, async () => {
          const write =
            e.type === 'delete'
              ? service.deleteRecord(uri)
              : service.indexRecord(uri, CID.parse(e.cid), lexParse(JSON.stringify(e.record)), e.type === 'create' ? WriteOpAction.Create : WriteOpAction.Update, e.time);
          await Promise.all([write, service.setCommitLastSeen(e.did, CID.parse(e.commit), e.rev), service.indexHandle(e.did, e.time)]);
        });
      }
      await runner.processAll();
      await background.processAll();
    },
    analyze: () => analyzeSchema(schema),
    mirror: (from) => mirrorTables(from, schema),
    async close() {
      await background.processAll();
      await db.close();
      await drop();
    },
  };
}

/** Every table both schemas have: `to`'s rows replaced by `from`'s, in the columns both have (generated ones excepted). */
async function mirrorTables(from: string, to: string): Promise<void> {
  const admin = createSql(TEST_DATABASE_URL, { max: 1 });
  try {
    const columns = checkRows(await admin.query(
      `select a.table_name as t, string_agg(format('%I', a.column_name), ', ' order by a.ordinal_position) as c
       from information_schema.columns a join information_schema.columns b
         on b.table_schema = $1 and b.table_name = a.table_name and b.column_name = a.column_name
       join information_schema.tables t on t.table_schema = a.table_schema and t.table_name = a.table_name and t.table_type = 'BASE TABLE'
       where a.table_schema = $2 and a.is_generated = 'NEVER' and coalesce(a.column_default, '') not like 'nextval(%'
         and a.table_name not like 'kysely%'
       group by a.table_name`,
      [from, to],
    ), { t: 'string', c: 'string' });
    const q = (name: string) => `"${name}"`;
    await admin.transaction(async (tx) => {
      await tx.query(`truncate ${columns.map(({ t }) => `${q(to)}.${q(t)}`).join(', ')}`);
      // A repo may hold two likes of one post (skytide keeps both); the AppView's UNIQUE(creator, subject) keeps one.
      for (const { t, c } of columns) await tx.query(`insert into ${q(to)}.${q(t)} (${c}) select ${c} from ${q(from)}.${q(t)} on conflict do nothing`);
    });
  } finally {
    await admin.end();
  }
}
