// The index benchmark's floor (tests/bench/index-floor.ts): it measures a copy of the index's final rows and a read of
// the stream, and leaves neither the copies, the source rows nor the stream behind it changed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createIndexDb, dumpIndex, type IndexDb } from '../../helpers/index-db.ts';
import { TEST_REDIS_URL, uniqueName } from '../../helpers/services.ts';
import { checkRows } from '../../../functions/sql-rows.ts';
import { indexBatch } from '../../../functions/index/handler.ts';
import { networkCorpus } from '../../bench/network-corpus.ts';
import { postgresFloorSeconds, streamFloorSeconds } from '../../bench/index-floor.ts';

let db: IndexDb;
let redis: Redis;
const events = networkCorpus(3).next(600);

beforeAll(async () => {
  db = await createIndexDb('index_floor');
  redis = new Redis(TEST_REDIS_URL);
  await indexBatch(events, db.ports);
});

afterAll(async () => {
  await redis.quit();
  await db.close();
});

describe('the index floor', () => {
  it("copies every table's rows with its indexes, measures the backend, and drops the copies", async () => {
    const before = await dumpIndex(db.sql);
    // The copies, seen from inside the floor's transaction: every table, with as many rows and indexes as its source.
    const seen: { name: string; rows: number; indexes: number }[] = [];
    const spy = {
      ...db.ports.sql,
      transaction: <T>(fn: Parameters<typeof db.ports.sql.transaction<T>>[0]) => db.ports.sql.transaction(async (tx) => {
        const wrapped = {
          query: async (text: string, params?: Parameters<typeof tx.query>[1]) => {
            if (text.startsWith('drop schema')) {
              const clone = `${db.schema}_floor`;
              const tables = checkRows(await tx.query(
                `select c.relname as name, (select count(*)::int from pg_index i where i.indrelid = c.oid) as indexes
                 from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relkind = 'r'`,
                [clone],
              ), { name: 'string', indexes: 'number' });
              for (const t of tables) {
                const [count] = checkRows(await tx.query(`select count(*)::int as n from "${clone}"."${t.name}"`), { n: 'number' });
                seen.push({ ...t, rows: count?.n ?? -1 });
              }
            }
            return tx.query(text, params);
          },
        };
        return fn(wrapped);
      }),
    };
    const seconds = await postgresFloorSeconds(spy, db.schema);
    expect(seconds).toBeGreaterThanOrEqual(0);

    const like = seen.find((t) => t.name === 'like');
    expect(like?.rows).toBe(before['like']?.length);
    const [likeIndexes] = checkRows(await db.sql.query(
      `select count(*)::int as n from pg_index i join pg_class c on c.oid = i.indrelid join pg_namespace s on s.oid = c.relnamespace
       where s.nspname = $1 and c.relname = 'like'`,
      [db.schema],
    ), { n: 'number' });
    expect(like?.indexes).toBe(likeIndexes?.n);
    expect(seen.find((t) => t.name === 'record')?.rows).toBe(before['record']?.length);
    expect(seen.some((t) => t.name === 'skytide_migrations')).toBe(false);

    const [left] = checkRows(await db.sql.query('select count(*)::int as n from pg_namespace where nspname = $1', [`${db.schema}_floor`]), { n: 'number' });
    expect(left?.n).toBe(0);
    expect(await dumpIndex(db.sql)).toEqual(before);
  });

  it('reads, parses and acknowledges every event of the stream, then deletes it', async () => {
    const stream = uniqueName('index_floor');
    const cpu = await streamFloorSeconds(redis, stream, events, 250);
    expect(cpu.node).toBeGreaterThan(0);
    expect(cpu.redis).toBeGreaterThanOrEqual(0);
    expect(await redis.exists(stream, `${stream}_dlq`)).toBe(0);
  });
});
