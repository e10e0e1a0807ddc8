// The operator's commands beside `run`: dead-letter queues (`dlq list|replay|purge <stream>`), consumers of the groups
// (`consumers [--prune]`), the configuration in effect (`config`), the rows of a DID the filters drop (`forget <did>`).
// Each prints JSON lines on stdout and returns an exit code; wiring only, the Redis work lives in adapters/redis/ and
// the index's in functions/index/.
import type { Resources } from './resources.ts';
import { GROUPS, STREAMS } from '../../adapters/redis/keys.ts';
import { purgeDeadLetters, readDeadLetters, replayDeadLetters, type DeadLetterFilter } from '../../adapters/redis/dead-letters.ts';
import { listConsumers, pruneConsumers } from '../../adapters/redis/group-consumers.ts';
import { effectiveConfig } from '../../adapters/config/describe.ts';
import { isValidDid } from '../../functions/atproto/syntax/did.ts';
import { keepsDid } from '../../functions/event-filter.ts';
import { heldOf, purgeAccount } from '../../functions/index/account-deletion.ts';

/** The group that consumes each stream (README.md, "Contracts"). */
export const GROUP_OF_STREAM: Readonly<Record<string, string>> = {
  [STREAMS.firehoseLive]: GROUPS.firehose,
  [STREAMS.firehoseBackfill]: GROUPS.firehose,
  [STREAMS.labelLive]: GROUPS.label,
  [STREAMS.repoBackfill]: GROUPS.repoBackfill,
};

const STREAM_NAMES: readonly string[] = Object.values(STREAMS);

export interface OperateOptions {
  limit?: number;
  reason?: string;
  yes?: boolean;
  prune?: boolean;
  idleMs?: number;
  write: (line: string) => void;
}

function filterOf(o: OperateOptions): DeadLetterFilter {
  return { ...(o.limit === undefined ? {} : { limit: o.limit }), ...(o.reason === undefined ? {} : { reason: o.reason }) };
}

/**
 * `skytide dlq list|replay|purge <stream>`: the stream is the source stream, its DLQ is `<stream>_dlq`; with
 * STREAM_SHARDS > 1 each shard has its own (`firehose_live:{n}_dlq`) and the command goes through every one of them.
 */
export async function dlqCommand(r: Resources, action: string | undefined, stream: string | undefined, o: OperateOptions): Promise<number> {
  if (action === undefined || !['list', 'replay', 'purge'].includes(action) || stream === undefined || !STREAM_NAMES.includes(stream)) {
    o.write(JSON.stringify({ error: 'usage', message: `usage: skytide dlq list|replay|purge <stream> [--reason R] [--limit N] [--yes]; streams: ${STREAM_NAMES.join(', ')}` }));
    return 2;
  }
  let status = 0;
  for (const shard of r.keys.shardsOf(stream)) status = Math.max(status, await dlqOfShard(r, action, stream, shard, o));
  return status;
}

async function dlqOfShard(r: Resources, action: string, logical: string, shard: string, o: OperateOptions): Promise<number> {
  const redis = r.redis();
  const dlq = r.keys.dlq(shard);
  const filter = filterOf(o);
  const stream = shard === logical ? logical : shard;
  switch (action) {
    case 'list': {
      let n = 0;
      for await (const e of readDeadLetters(redis, dlq, filter)) {
        o.write(JSON.stringify({ id: e.id, reason: e.reason, attempts: e.attempts, error: e.error, source_id: e.sourceId, fields: e.fields }));
        n++;
      }
      o.write(JSON.stringify({ stream, dlq, listed: n }));
      return 0;
    }
    case 'replay': {
      const { replayed, unreplayable } = await replayDeadLetters(redis, dlq, r.keys.stream(shard), filter);
      o.write(JSON.stringify({ stream, dlq, replayed, ...(unreplayable === 0 ? {} : { unreplayable, message: 'letters without the fields of an entry stay in the DLQ (see dlq list; purge removes them)' }) }));
      return 0;
    }
    default: {
      if (o.yes !== true) {
        let n = 0;
        for await (const _ of readDeadLetters(redis, dlq, filter)) n++;
        o.write(JSON.stringify({ stream, dlq, wouldPurge: n, message: 'nothing deleted: add --yes to purge these entries for good' }));
        return 2;
      }
      const removed = await purgeDeadLetters(redis, dlq, filter);
      o.write(JSON.stringify({ stream, dlq, purged: removed }));
      return 0;
    }
  }
}

/** `skytide consumers [--prune] [--idle-ms N]`: every consumer of every group; prune removes idle ones that hold nothing. */
export async function consumersCommand(r: Resources, o: OperateOptions): Promise<number> {
  const redis = r.redis();
  const idleMs = o.idleMs ?? 3_600_000;
  for (const stream of STREAM_NAMES.flatMap((name) => r.keys.shardsOf(name).map((shard) => ({ name, shard })))) {
    const key = r.keys.stream(stream.shard);
    const group = GROUP_OF_STREAM[stream.name]!;
    const pruned = o.prune === true ? new Set(await pruneConsumers(redis, key, group, idleMs)) : new Set<string>();
    for (const name of pruned) o.write(JSON.stringify({ stream: stream.shard, group, consumer: name, pruned: true }));
    for (const c of await listConsumers(redis, key, group)) o.write(JSON.stringify({ stream: stream.shard, group, consumer: c.name, pending: c.pending, idleMs: c.idleMs }));
  }
  return 0;
}

/** `skytide config`: every variable, its value (secrets masked) and whether it came from the environment. */
export function configCommand(env: Record<string, string | undefined>, o: OperateOptions): number {
  for (const v of effectiveConfig(env)) o.write(JSON.stringify(v));
  return 0;
}

/**
 * `skytide forget <did> [--yes]`: the rows of a DID the filters drop (INGESTER_DIDS, INGESTER_EXCLUDE_DIDS), which
 * they do not remove by themselves, removed as a confirmed deletion removes them (functions/index/account-deletion.ts:
 * the counts it fed on other accounts' rows corrected, and the marker, reason `Forgotten`, keeps out its events still
 * in the streams). A DID the filters keep is refused: its next sweep would bring it back. Without --yes it says what it
 * would remove and removes nothing. Taken back into the filters, the DID returns with its next backfill (a sweep, or
 * `skytide reprocess`), as a deleted account's restore does.
 */
export async function forgetCommand(r: Resources, did: string | undefined, o: OperateOptions): Promise<number> {
  if (did === undefined || !isValidDid(did)) {
    o.write(JSON.stringify({ error: 'usage', message: `usage: skytide forget <did> [--yes]${did === undefined ? '' : `; not a DID: ${JSON.stringify(did)}`}` }));
    return 2;
  }
  if (keepsDid(r.config.filter, did)) {
    o.write(JSON.stringify({ error: 'kept', did, message: 'the filters keep this DID: drop it first (INGESTER_EXCLUDE_DIDS, or leave it out of INGESTER_DIDS), or its next sweep brings it back' }));
    return 2;
  }
  const held = await heldOf(r.sql(), did);
  if (o.yes !== true) {
    o.write(JSON.stringify({ did, records: held.records, repoSync: held.status, message: 'nothing removed: add --yes to remove every row of this DID' }));
    return 2;
  }
  const removed = await purgeAccount(r.sql(), did, new Date().toISOString(), 'Forgotten');
  if (removed === undefined) {
    // purgeAccount yields to an #account activation dated after its time: one from a PDS whose clock runs ahead.
    o.write(JSON.stringify({ did, forgotten: false, message: 'an #account activation dated after now stands; nothing removed: run it again later' }));
    return 1;
  }
  o.write(JSON.stringify({ did, forgotten: true, records: removed }));
  return 0;
}
