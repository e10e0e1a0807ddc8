// serverSettingProblems (adapters/postgres/server-settings.ts): the server settings the index's plans rely on, read
// from the real server. This machine's CI configuration turns autovacuum off; elsewhere it is usually on: the
// expectation follows what the server says, read apart.
import { afterAll, describe, expect, it } from 'vitest';
import { createSql } from '../../../adapters/postgres/client.ts';
import { readServerSettings, serverSettingProblems } from '../../../adapters/postgres/server-settings.ts';
import { checkRows } from '../../../functions/sql-rows.ts';
import { TEST_DATABASE_URL } from '../../helpers/services.ts';

const sql = createSql(TEST_DATABASE_URL, { max: 1 });
afterAll(async () => sql.end());

describe('serverSettingProblems', () => {
  it('names autovacuum exactly when the server has it (or the counts it needs) off', async () => {
    const shown = checkRows(await sql.query(`select current_setting('autovacuum') as a, current_setting('track_counts') as t`), { a: 'string', t: 'string' })[0]!;
    const problems = serverSettingProblems(await readServerSettings(sql));
    const off = shown.a === 'off' || shown.t === 'off';
    expect(problems.some((p) => p.startsWith('autovacuum is off'))).toBe(off);
    expect(problems).toHaveLength(off ? 1 : 0);
  });
});
