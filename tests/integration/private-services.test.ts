// The private services the outage and chaos tests stop and kill: a restart keeps what was committed, an AOF with
// appendfsync always keeps every acknowledged write across a SIGKILL.
import { describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { Redis } from 'ioredis';
import { startPrivatePostgres, startPrivateRedis } from '../helpers/private-services.ts';

describe('private services', () => {
  it('a private Postgres keeps committed rows across a fast and an immediate restart', async () => {
    const pg = await startPrivatePostgres();
    try {
      const sql = postgres(pg.url, { max: 1, onnotice: () => {} });
      await sql`create table t (n int)`;
      await sql`insert into t values (1)`;
      await sql.end();
      await pg.restart('fast');
      await pg.restart('immediate');
      const again = postgres(pg.url, { max: 1 });
      expect((await again`select n from t`).map((r) => r['n'])).toEqual([1]);
      await again.end();
    } finally {
      await pg.close();
    }
  }, 120_000);

  it('a private Postgres runs with the settings it is given over its own, and refuses a malformed one', async () => {
    const pg = await startPrivatePostgres({ max_wal_size: '2GB', shared_buffers: '32MB' });
    try {
      const sql = postgres(pg.url, { max: 1, onnotice: () => {} });
      const [shown] = await sql`select current_setting('max_wal_size') as wal, current_setting('shared_buffers') as buffers, current_setting('max_connections') as conns`;
      await sql.end();
      expect(shown).toEqual({ wal: '2GB', buffers: '32MB', conns: '200' });
    } finally {
      await pg.close();
    }
    await expect(startPrivatePostgres({ 'max_wal_size; drop': '1GB' })).rejects.toThrow(/not a server setting/);
  }, 60_000);

  it('a private redis-server keeps every acknowledged write across SIGKILL', async () => {
    const rs = await startPrivateRedis();
    try {
      const a = new Redis(rs.url, { maxRetriesPerRequest: 1 });
      for (let i = 0; i < 50; i++) await a.xadd('s', '*', 'n', String(i));
      a.disconnect();
      await rs.restart('kill');
      const b = new Redis(rs.url, { maxRetriesPerRequest: 1 });
      expect(await b.xlen('s')).toBe(50);
      b.disconnect();
    } finally {
      await rs.close();
    }
  }, 60_000);
});
