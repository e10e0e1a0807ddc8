// A sweep stopped while it retries the skipped ranges, after its listing ended: against a listRepos server on 127.0.0.1
// that holds the retried range's page, and the real Redis and Postgres. The sweep marked itself done when the listing
// ended, before the retries, so `skytide sweep` signalled then exited 0 and a sweep that lost its lease then returned
// done (review: cli-sigterm-retry.ts). The retries are part of the sweep: stopped in them, it is not done (the CLI exits
// 143 or 130; a lost lease fails with lease_lost), and the range stays recorded for the next pass's end.
import { spawn } from 'node:child_process';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { TEST_REDIS_URL } from '../../helpers/services.ts';
import { useSweepSetup } from '../../helpers/fake-list-repos.ts';
import { waitFor } from '../../helpers/wait.ts';
import { SWEEP_DONE, sweepSkippedKey } from '../../../adapters/redis/keys.ts';
import { claimSweep, sweepLeaseKey } from '../../../long-runners/sweeper/sweep.ts';
import { silentLog } from '../../../functions/ports.ts';

const CLI = new URL('../../../long-runners/cli/main.ts', import.meta.url).pathname;
const DIDS = Array.from({ length: 4 }, (_, i) => `did:plc:retrystop${String.fromCharCode(97 + i).padStart(15, 'a')}`);
// The whole listing is one page (limit 10); the page at cursor '100' (a range an earlier pass skipped) is held.
const release: (() => void)[] = [];
const s = useSweepSetup('sweep_stopped_retries', {
  dids: DIDS, pageSize: 10, onPage: ({ cursor }) => (cursor === '100' ? new Promise<void>((go) => release.push(go)) : undefined),
});
afterAll(() => {
  for (const go of release.splice(0)) go();
});
beforeEach(() => {
  for (const go of release.splice(0)) go();
});

/** A range an earlier pass recorded. */
const recordRange = () => s.redis.sadd(sweepSkippedKey(s.keys, s.host), '100-110');

describe('a sweep stopped while retrying its skipped ranges', () => {
  it.each([['SIGTERM', 143], ['SIGINT', 130]] as const)('`skytide sweep` by %s exits %i, not done, the range kept', async (signal, code) => {
    await recordRange();
    const child = spawn(process.execPath, [CLI, 'sweep'], {
      env: { PATH: process.env['PATH'] ?? '', REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: s.keys.stream(''), DATABASE_URL: s.db.url, INGESTER_RELAY_HOSTS: s.host },
    });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', () => {});
    const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    try {
      // The listing ended (its cursor stored as done) and the retry's page is held at the relay.
      await waitFor(() => release.length, (n) => n > 0, 'the retried range\'s page to be asked');
      expect(await s.cursor()).toBe(SWEEP_DONE);
      child.kill(signal);
      expect(await exited).toBe(code);
      const results = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => 'hosts' in l);
      expect(results).toEqual([{ done: false, stoppedBy: signal, hosts: [expect.objectContaining({ host: s.host, done: false, pages: 1, retriedRanges: 0, skippedRanges: 1 })] }]);
      expect(await s.skipped()).toEqual(['100-110']);
    } finally {
      child.kill('SIGKILL');
    }
  }, 60_000);

  it('that loses its lease meanwhile fails with lease_lost, the range kept', async () => {
    await recordRange();
    const claim = await claimSweep(s.redis, s.keys, s.host, 'retrying-sweeper', 300, silentLog);
    if (claim.held === undefined) throw new Error('the lease was not taken');
    const lease = claim.held;
    try {
      const sweep = s.sweep({ lease });
      await waitFor(() => release.length, (n) => n > 0, 'the retried range\'s page to be asked');
      // As if the holder paused past its TTL and another sweep took the host meanwhile: its next renewal finds it.
      await s.redis.set(sweepLeaseKey(s.keys, s.host), 'usurper token', 'PX', 10_000);
      await expect(sweep).rejects.toMatchObject({ reason: 'lease_lost' });
      expect(await s.skipped()).toEqual(['100-110']);
    } finally {
      await lease.release();
    }
  });
});
