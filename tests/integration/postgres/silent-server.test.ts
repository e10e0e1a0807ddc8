// A Postgres that goes silent under a statement (no reset, no answer: a partition, a frozen host) is an outage seen
// within seconds, not after TCP's 12 to 15 minutes: the statement rejects as a DependencyError, the connections it
// held are cut, and once the server answers again the same client runs statements. A server that answers, however
// slow a statement, has nothing cut. Against the machine's Postgres, through a TCP proxy that can hold every byte.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSql, type PostgresSql } from '../../../adapters/postgres/client.ts';
import { DependencyError } from '../../../functions/errors.ts';
import { TEST_DATABASE_URL } from '../../helpers/services.ts';
import { startTcpProxy, type TcpProxy } from '../../helpers/tcp-proxy.ts';

let proxy: TcpProxy;
let sql: PostgresSql;
const cuts: { connections: number; why: string }[] = [];

beforeAll(async () => {
  const target = new URL(TEST_DATABASE_URL);
  proxy = await startTcpProxy({ target: { host: target.hostname, port: Number(target.port || 5432) } });
  const url = new URL(TEST_DATABASE_URL);
  url.hostname = '127.0.0.1';
  url.port = String(proxy.port);
  sql = createSql(url.toString(), { max: 2, silentAfterMs: 1_000, probeTimeoutMs: 500, onSilent: (info) => void cuts.push(info) });
});
afterAll(async () => {
  await sql?.end();
  await proxy?.close();
});

describe('a Postgres gone silent under a statement', () => {
  it('lets a slow statement of a server that answers run to its end, cutting nothing', { timeout: 30_000 }, async () => {
    const rows = await sql.query(`select pg_sleep(3), 1 as n`);
    expect(rows[0]).toMatchObject({ n: 1 });
    expect(cuts).toEqual([]);
  });

  it('rejects the transaction as an outage within seconds, and the client works once the server answers again', { timeout: 60_000 }, async () => {
    const inFlight = sql.transaction(async (tx) => {
      await tx.query(`select 1`);
      proxy.silence(true);
      await tx.query(`select 2`);
      return 'committed';
    }).catch((e: unknown) => e);
    const err = await inFlight;
    expect(err).toBeInstanceOf(DependencyError);
    expect(err).toMatchObject({ dependency: 'postgres' });
    expect(cuts.length).toBeGreaterThanOrEqual(1);
    expect(cuts[0]?.why).toContain('no answer');

    proxy.silence(false);
    for (let i = 0; ; i++) {
      try {
        expect(await sql.query(`select 3 as n`)).toEqual([{ n: 3 }]);
        break;
      } catch (e) {
        if (!(e instanceof DependencyError) || i > 100) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    expect(await sql.transaction(async (tx) => tx.query(`select 4 as n`))).toEqual([{ n: 4 }]);
  });
});
