// Which index loops `skytide run --only index` starts: every shard of every stream, or only INDEXER_SHARDS' shards,
// so processes can split the shards between them and no repo is in two processes' loops; and the pool they need.
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../adapters/config/parse.ts';
import { createResources, type Resources } from '../../../long-runners/cli/resources.ts';
import { buildTasks } from '../../../long-runners/cli/tasks.ts';
import { createLogger } from '../../../adapters/observability/logger.ts';

let r: Resources | undefined;
afterEach(async () => {
  await r?.close();
  r = undefined;
});

const indexTaskNames = (env: Record<string, string>) => {
  r = createResources(parseConfig({ LOG_LEVEL: 'error', ...env }).config, 'index-tasks-test');
  return buildTasks(r, ['index']).map((t) => t.name);
};

describe('index tasks', () => {
  it('reads every shard of both streams by default, INDEXER_CONCURRENCY loops each', () => {
    expect(indexTaskNames({ STREAM_SHARDS: '2', INDEXER_CONCURRENCY: '1' })).toEqual([
      'index:firehose_live:{0}:0', 'index:firehose_live:{1}:0', 'index:firehose_backfill:{0}:0', 'index:firehose_backfill:{1}:0',
    ]);
  });

  it('reads only the shards INDEXER_SHARDS names', () => {
    expect(indexTaskNames({ STREAM_SHARDS: '4', INDEXER_SHARDS: '3,1', INDEXER_CONCURRENCY: '1', INDEXER_STREAMS: 'firehose_live' })).toEqual([
      'index:firehose_live:{1}:0', 'index:firehose_live:{3}:0',
    ]);
  });

  it('starts one loop per stream by default (its reads split by DID, INDEXER_SPLIT)', () => {
    expect(indexTaskNames({})).toEqual(['index:firehose_live:0', 'index:firehose_backfill:0']);
  });

  it('keeps rsky\'s single streams without shards', () => {
    expect(indexTaskNames({ INDEXER_CONCURRENCY: '2', INDEXER_STREAMS: 'firehose_live' })).toEqual(['index:firehose_live:0', 'index:firehose_live:1']);
  });
});

describe('the connection pool', () => {
  // The warnings `skytide run --only index,label,backfill` logs at start-up with this pool.
  const poolWarnings = (env: Record<string, string>) => {
    const lines: string[] = [];
    const created = createResources(parseConfig({ LOG_LEVEL: 'error', ...env }).config, 'pool-test');
    r = created;
    const log = createLogger({ level: 'warn', component: 'pool-test', write: (line) => lines.push(line) });
    buildTasks({ ...created, log }, ['index', 'label', 'backfill']);
    return lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((l) => String(l['msg']).includes('DATABASE_POOL_MAX'));
  };

  it('is warned of when smaller than the transactions the tasks hold at once (INDEXER_SPLIT per index loop)', () => {
    // Two index streams of 3 lanes, a label loop and 4 backfill loops: 11.
    expect(poolWarnings({ DATABASE_POOL_MAX: '10' })).toEqual([expect.objectContaining({ level: 'warn', databasePoolMax: 10, transactions: 11 })]);
    expect(poolWarnings({ DATABASE_POOL_MAX: '10', INDEXER_SPLIT: '2' })).toEqual([]);
  });

  it('is large enough with the defaults, and one connection (PGlite, one session) is not warned of', () => {
    expect(poolWarnings({})).toEqual([]);
    expect(poolWarnings({ DATABASE_POOL_MAX: '1' })).toEqual([]);
  });
});
