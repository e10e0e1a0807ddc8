// DATABASE_URL in libpq's Unix-socket forms reaches the machine's Postgres through its socket (postgres.js alone sent
// `host` on to the server as a setting, which refused the connection, and looked an encoded directory up in DNS).
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { createSql } from '../../../adapters/postgres/client.ts';
import { TEST_DATABASE_URL } from '../../helpers/services.ts';
import { checkRows } from '../../../functions/sql-rows.ts';

async function socketDirectory(): Promise<{ directory: string; port: string; user: string; database: string }> {
  const sql = createSql(TEST_DATABASE_URL, { max: 1 });
  try {
    const [row] = checkRows(await sql.query(
      `select current_setting('unix_socket_directories') as dirs, current_setting('port') as port, current_user as user, current_database() as db`,
    ), { dirs: 'string', port: 'string', user: 'string', db: 'string' });
    const directory = row!.dirs.split(',').map((d) => d.trim()).find((d) => d.startsWith('/'));
    if (directory === undefined || !existsSync(`${directory}/.s.PGSQL.${row!.port}`)) {
      throw new Error(`the test Postgres listens on no Unix socket (unix_socket_directories = '${row!.dirs}')`);
    }
    return { directory, port: row!.port, user: row!.user, database: row!.db };
  } finally {
    await sql.end();
  }
}

describe('Postgres over its Unix socket', () => {
  it('connects with ?host=<directory>, and with the directory percent-encoded as the host', async () => {
    const { directory, port, user, database } = await socketDirectory();
    const urls = [
      `postgresql:///${database}?host=${directory}&port=${port}&user=${user}`,
      `postgres://${user}@${encodeURIComponent(directory)}:${port}/${database}`,
    ];
    for (const url of urls) {
      const sql = createSql(url, { max: 1 });
      try {
        const [row] = checkRows(await sql.query(
          'select inet_server_addr()::text as addr, current_user as user, current_database() as db',
        ), { addr: 'string?', user: 'string', db: 'string' });
        // No server address: the connection is a Unix socket, not TCP.
        expect(row, url).toEqual({ addr: null, user, db: database });
      } finally {
        await sql.end();
      }
    }
  });
});
