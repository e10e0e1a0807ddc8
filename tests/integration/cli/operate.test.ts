// The operator's commands against real Redis: dead letters listed, replayed with their verdict removed (so attempts
// start again), purged only with --yes; consumers listed and pruned only when idle and empty; config masks secrets.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createTestRedis, TEST_REDIS_URL } from '../../helpers/services.ts';
import { purgeDeadLetters, readDeadLetters, replayDeadLetters } from '../../../adapters/redis/dead-letters.ts';
import { listConsumers, pruneConsumers } from '../../../adapters/redis/group-consumers.ts';
import { effectiveConfig } from '../../../adapters/config/describe.ts';

const CLI = new URL('../../../long-runners/cli/main.ts', import.meta.url).pathname;
let redis: Redis;
let prefix: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ redis, prefix, cleanup } = await createTestRedis('operate'));
});
afterAll(() => cleanup());

function cli(args: string[], extra: Record<string, string> = {}): { code: number | null; lines: Record<string, unknown>[] } {
  const out = spawnSync(process.execPath, [CLI, ...args], {
    env: { PATH: process.env['PATH'] ?? '', REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: prefix, SKYTIDE_API_TOKEN: 'secret-token', ...extra },
    encoding: 'utf8',
  });
  return { code: out.status, lines: out.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

async function deadLetter(stream: string, n: number, reason: string): Promise<void> {
  for (let i = 0; i < n; i++) {
    await redis.xadd(`${prefix}${stream}_dlq`, '*', 'event', JSON.stringify({ n: i }), 'reason', reason, 'attempts', '5', 'error', `Error: boom ${i}`, 'source_id', `1-${i}`);
  }
}

describe('dead letters', () => {
  it('lists, replays without the verdict, and purges by reason', async () => {
    await deadLetter('firehose_live', 3, 'handler_error');
    await deadLetter('firehose_live', 2, 'invalid_event');
    const dlq = `${prefix}firehose_live_dlq`;
    const listed = [];
    for await (const e of readDeadLetters(redis, dlq, { reason: 'handler_error' })) listed.push(e);
    expect(listed.map((e) => [e.reason, e.attempts, e.error, e.sourceId, e.fields])).toEqual([
      ['handler_error', 5, 'Error: boom 0', '1-0', { event: '{"n":0}' }],
      ['handler_error', 5, 'Error: boom 1', '1-1', { event: '{"n":1}' }],
      ['handler_error', 5, 'Error: boom 2', '1-2', { event: '{"n":2}' }],
    ]);

    expect(await replayDeadLetters(redis, dlq, `${prefix}firehose_live`, { reason: 'handler_error', limit: 2 })).toEqual({ replayed: 2, unreplayable: 0 });
    const back = (await redis.xrange(`${prefix}firehose_live`, '-', '+')) as [string, string[]][];
    // Back in the stream as it was first written: no reason, attempts, error or source id, so the consumer judges it afresh.
    expect(back.map(([, f]) => f)).toEqual([['event', '{"n":0}'], ['event', '{"n":1}']]);
    expect(await redis.xlen(dlq)).toBe(3);

    expect(await purgeDeadLetters(redis, dlq, { reason: 'invalid_event' })).toBe(2);
    const left = [];
    for await (const e of readDeadLetters(redis, dlq)) left.push(e.fields['event']);
    expect(left).toEqual(['{"n":2}']);
  });

  it('replays around a letter that holds only its verdict (its entry was deleted while pending), and leaves it', async () => {
    const stream = `${prefix}label_live`;
    const dlq = `${stream}_dlq`;
    await redis.xadd(dlq, '*', 'label', 'a', 'reason', 'handler_error', 'attempts', '5');
    // What the consumer writes for an entry XDELed while pending: XREADGROUP gave it back with no fields.
    await redis.xadd(dlq, '*', 'reason', 'invalid_event', 'attempts', '1', 'error', 'no label field', 'source_id', '3-0');
    await redis.xadd(dlq, '*', 'label', 'b', 'reason', 'handler_error', 'attempts', '5');
    expect(await replayDeadLetters(redis, dlq, stream)).toEqual({ replayed: 2, unreplayable: 1 });
    const back = (await redis.xrange(stream, '-', '+')) as [string, string[]][];
    expect(back.map(([, f]) => f)).toEqual([['label', 'a'], ['label', 'b']]);
    const left = [];
    for await (const e of readDeadLetters(redis, dlq)) left.push([e.sourceId, e.fields]);
    expect(left).toEqual([['3-0', {}]]);
  });

  it('the CLI names the source stream, refuses to purge without --yes, and replays', async () => {
    await redis.del(`${prefix}repo_backfill_dlq`, `${prefix}repo_backfill`);
    await redis.xadd(`${prefix}repo_backfill_dlq`, '*', 'repo', '{"did":"did:plc:a"}', 'reason', 'fetch_failed', 'attempts', '5', 'error', 'getRepo: 502', 'source_id', '7-0');
    const list = cli(['dlq', 'list', 'repo_backfill']);
    expect(list.code).toBe(0);
    expect(list.lines[0]).toMatchObject({ reason: 'fetch_failed', attempts: 5, error: 'getRepo: 502', source_id: '7-0' });
    expect(list.lines[0]?.['fields']).toEqual({ repo: '{"did":"did:plc:a"}' });
    const dry = cli(['dlq', 'purge', 'repo_backfill']);
    expect(dry.code).toBe(2);
    expect(dry.lines[0]).toMatchObject({ wouldPurge: 1 });
    expect(await redis.xlen(`${prefix}repo_backfill_dlq`)).toBe(1);
    expect(cli(['dlq', 'replay', 'repo_backfill']).lines[0]).toMatchObject({ replayed: 1 });
    expect(await redis.xlen(`${prefix}repo_backfill`)).toBe(1);
    expect(cli(['dlq', 'list', 'no_such_stream']).code).toBe(2);
  });
});

describe('consumers', () => {
  it('lists consumers with pending counts and prunes only idle ones holding nothing', async () => {
    const stream = `${prefix}firehose_live`;
    await redis.del(stream);
    await redis.xgroup('CREATE', stream, 'firehose_group', '0', 'MKSTREAM');
    await redis.xadd(stream, '*', 'event', '{}');
    await redis.xreadgroup('GROUP', 'firehose_group', 'holder', 'COUNT', 1, 'STREAMS', stream, '>');
    await redis.xgroup('CREATECONSUMER', stream, 'firehose_group', 'empty');
    await new Promise((r) => setTimeout(r, 30));
    const before = await listConsumers(redis, stream, 'firehose_group');
    expect(before.map((c) => [c.name, c.pending]).sort()).toEqual([['empty', 0], ['holder', 1]]);
    expect(await pruneConsumers(redis, stream, 'firehose_group', 60_000)).toEqual([]);
    expect(await pruneConsumers(redis, stream, 'firehose_group', 10)).toEqual(['empty']);
    expect((await listConsumers(redis, stream, 'firehose_group')).map((c) => c.name)).toEqual(['holder']);
    const out = cli(['consumers']);
    expect(out.code).toBe(0);
    expect(out.lines).toContainEqual(expect.objectContaining({ stream: 'firehose_live', consumer: 'holder', pending: 1 }));
  });
});

describe('config and version', () => {
  it('masks tokens and URL passwords, and says where each value came from', () => {
    const vars = effectiveConfig({ SKYTIDE_API_TOKEN: 'hunter2', DATABASE_URL: 'postgres://app:pw@db:5432/x', LOG_LEVEL: 'debug' });
    const by = Object.fromEntries(vars.map((v) => [v.name, v]));
    expect(by['SKYTIDE_API_TOKEN']).toEqual({ name: 'SKYTIDE_API_TOKEN', value: '****', source: 'environment' });
    expect(by['DATABASE_URL']?.value).toBe('postgres://app:****@db:5432/x');
    expect(by['LOG_LEVEL']).toMatchObject({ value: 'debug', source: 'environment' });
    expect(by['REDIS_URL']).toMatchObject({ source: 'default' });
    const out = cli(['config']);
    expect(out.lines).toContainEqual({ name: 'SKYTIDE_API_TOKEN', value: '****', source: 'environment' });
    expect(JSON.stringify(out.lines)).not.toContain('secret-token');
  });

  it('prints the version', () => {
    const out = spawnSync(process.execPath, [CLI, '--version'], { encoding: 'utf8' });
    expect(out.status).toBe(0);
    expect(out.stdout).toMatch(/^skytide \d+\.\d+\.\d+/);
  });
});

describe('with STREAM_SHARDS', () => {
  it('dlq commands go through every shard of the named stream', async () => {
    const shards = { STREAM_SHARDS: '3' };
    await redis.xadd(`${prefix}firehose_backfill:{0}_dlq`, '*', 'event', '{"n":0}', 'reason', 'handler_error', 'attempts', '5');
    await redis.xadd(`${prefix}firehose_backfill:{2}_dlq`, '*', 'event', '{"n":2}', 'reason', 'handler_error', 'attempts', '5');
    const list = cli(['dlq', 'list', 'firehose_backfill'], shards);
    expect(list.code).toBe(0);
    expect(list.lines.filter((l) => 'listed' in l).map((l) => [l['stream'], l['listed']])).toEqual([
      ['firehose_backfill:{0}', 1], ['firehose_backfill:{1}', 0], ['firehose_backfill:{2}', 1],
    ]);
    expect(cli(['dlq', 'replay', 'firehose_backfill'], shards).code).toBe(0);
    expect(await redis.xlen(`${prefix}firehose_backfill:{0}`)).toBe(1);
    expect(await redis.xlen(`${prefix}firehose_backfill:{2}`)).toBe(1);
    expect(await redis.xlen(`${prefix}firehose_backfill:{2}_dlq`)).toBe(0);
  });
});
