// serviceCpuSeconds (tests/helpers/cpu-time.ts), which the index benchmark uses to say where each record's CPU went:
// work done by a Postgres backend shows up in the postgres total, also once that backend has exited.
import { describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { serviceCpuSeconds } from '../../helpers/cpu-time.ts';
import { TEST_DATABASE_URL } from '../../helpers/services.ts';

describe('serviceCpuSeconds', () => {
  it("counts a Postgres backend's CPU, after its connection has closed too", async () => {
    const before = serviceCpuSeconds();
    expect(before).toBeDefined();
    const sql = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
    await sql`select count(*) from generate_series(1, 20000000)`;
    await sql.end();
    // The postmaster adds an exited backend's time to its children's once it has reaped it.
    let after = serviceCpuSeconds();
    for (let i = 0; i < 50 && (after?.postgres ?? 0) - (before?.postgres ?? 0) < 0.3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      after = serviceCpuSeconds();
    }
    expect((after?.postgres ?? 0) - (before?.postgres ?? 0)).toBeGreaterThanOrEqual(0.3);
    expect(after?.redis).toBeGreaterThanOrEqual(before?.redis ?? Infinity);
  });
});
