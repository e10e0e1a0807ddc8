// The official AppView's record checks as a test oracle: `@atproto/bsky` checks each record with its collection's
// compiled lexicon schema (`schema.check(record)`, @atproto/lex-schema in strict mode) before indexing anything of
// it, and skips a record that throws. Those schemas are not exported from the package root, so they are loaded by
// file from its dist (as tests/bench/appview-indexer.ts loads the IndexingService).
// Two ways in: a record in lex-JSON (links {"$link"}, bytes {"$bytes"}, typed blobs) converted to the AppView's
// values with lexParse, as the bench converts records; or the record's DAG-CBOR bytes decoded the way the AppView's
// firehose consumer decodes them (@atproto/repo cborToLexRecord), for what lex-JSON cannot carry through lexParse.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** The collections the AppView indexes with a lexicon check. */
export const APPVIEW_RECORD_COLLECTIONS: readonly string[] = [
  'app.bsky.actor.profile',
  'app.bsky.feed.generator',
  'app.bsky.feed.like',
  'app.bsky.feed.postgate',
  'app.bsky.feed.post',
  'app.bsky.feed.repost',
  'app.bsky.feed.threadgate',
  'app.bsky.graph.block',
  'app.bsky.graph.follow',
  'app.bsky.graph.list',
  'app.bsky.graph.listblock',
  'app.bsky.graph.listitem',
  'app.bsky.graph.referencelistoptout',
  'app.bsky.graph.starterpack',
  'app.bsky.graph.verification',
  'app.bsky.labeler.service',
  // Plugins that write only the record row.
  'app.bsky.actor.status',
  'app.bsky.notification.declaration',
  'chat.bsky.actor.declaration',
  'com.germnetwork.declaration',
];

/**
 * True when the AppView's schema for `collection` accepts `record` (lex-JSON). Throws for a collection it has no
 * schema for, and AppviewConversionError for a record lexParse refuses.
 */
export type AppviewRecordCheck = (collection: string, record: unknown) => boolean;

/** True when the AppView would index a record of `collection` with these DAG-CBOR bytes. */
export type AppviewCborRecordCheck = (collection: string, bytes: Uint8Array) => boolean;

/** A record the lex-JSON oracle cannot judge: lexParse refuses it (a `__proto__` key), the AppView's CBOR path does not. */
export class AppviewConversionError extends Error {}

interface RecordSchema {
  check(value: unknown): void;
}

function isRecordSchema(value: unknown): value is RecordSchema {
  return value !== null && typeof value === 'object' && typeof (value as { check?: unknown }).check === 'function';
}

const require = createRequire(import.meta.url);

/** `app.bsky.feed.post` -> `lexicons/app/bsky/feed/post.defs.js` under the bsky dist. */
function defsFile(collection: string): string {
  const parts = collection.split('.');
  const name = parts.pop() as string;
  return join('lexicons', ...parts, `${name}.defs.js`);
}

let loaded: Promise<ReadonlyMap<string, RecordSchema>> | undefined;

/** The record schema (`main`) of every collection, from the bsky dist; loaded once. */
function loadSchemas(): Promise<ReadonlyMap<string, RecordSchema>> {
  loaded ??= (async () => {
    const bskyDist = dirname(require.resolve('@atproto/bsky'));
    const schemas = new Map<string, RecordSchema>();
    for (const collection of APPVIEW_RECORD_COLLECTIONS) {
      const module: unknown = await import(pathToFileURL(join(bskyDist, defsFile(collection))).href);
      const main = (module as { main?: unknown }).main;
      if (!isRecordSchema(main)) throw new Error(`${collection}: the AppView's lexicon module has no record schema main`);
      const $type = (main as { $type?: unknown }).$type;
      if ($type !== collection) throw new Error(`${collection}: the AppView's schema is for ${String($type)}`);
      schemas.set(collection, main);
    }
    return schemas;
  })();
  return loaded;
}

function schemaFor(schemas: ReadonlyMap<string, RecordSchema>, collection: string): RecordSchema {
  const schema = schemas.get(collection);
  if (schema === undefined) throw new Error(`the AppView has no record schema for ${collection}`);
  return schema;
}

/** schema.check throws (a LexValidationError) when the AppView would skip the record. */
function passes(schema: RecordSchema, value: unknown): boolean {
  try {
    schema.check(value);
    return true;
  } catch {
    return false;
  }
}

export async function loadAppviewRecordCheck(): Promise<AppviewRecordCheck> {
  const lex: unknown = await import('@atproto/lex');
  const lexParse = (lex as { lexParse?: unknown }).lexParse;
  if (typeof lexParse !== 'function') throw new Error('@atproto/lex has no lexParse');
  const parse = lexParse as (json: string) => unknown;
  const schemas = await loadSchemas();
  return (collection, record) => {
    const schema = schemaFor(schemas, collection);
    let value: unknown;
    try {
      value = parse(JSON.stringify(record));
    } catch (err) {
      // No verdict rather than a wrong one: the firehose decoder accepts what lexParse refuses here.
      throw new AppviewConversionError(`lexParse cannot convert this record (${String(err)}); judge its bytes with loadAppviewCborRecordCheck`);
    }
    return passes(schema, value);
  };
}

export async function loadAppviewCborRecordCheck(): Promise<AppviewCborRecordCheck> {
  const repo: unknown = await import('@atproto/repo');
  const cborToLexRecord = (repo as { cborToLexRecord?: unknown }).cborToLexRecord;
  if (typeof cborToLexRecord !== 'function') throw new Error('@atproto/repo has no cborToLexRecord');
  const decode = cborToLexRecord as (bytes: Uint8Array) => unknown;
  const schemas = await loadSchemas();
  return (collection, bytes) => {
    const schema = schemaFor(schemas, collection);
    let value: unknown;
    try {
      value = decode(bytes);
    } catch {
      return false; // not a map (or not DAG-CBOR): the AppView skips it
    }
    return passes(schema, value);
  };
}
