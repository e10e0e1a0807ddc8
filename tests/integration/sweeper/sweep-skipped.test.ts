// The ranges a sweep skipped, against a listRepos server on 127.0.0.1 and the real Redis and Postgres: a pass that
// reached the end of the listing retries each recorded range as one page; one that comes is queued and cleared, one
// that fails again stays (counted in the result), and a region that keeps failing stays one range whatever cursor
// the next pass meets it at (functions/sweep-skipped.ts).
import { beforeEach, describe, expect, it } from 'vitest';
import { SWEEP_DONE } from '../../../adapters/redis/keys.ts';
import { useSweepSetup } from '../../helpers/fake-list-repos.ts';
import { createStatusReader } from '../../../adapters/observability/pipeline-status.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';

const DIDS = Array.from({ length: 7 }, (_, i) => `did:plc:skipped${String.fromCharCode(97 + i).padStart(17, 'a')}`);
/** Whether the page asked for fails in itself (a 400), given its cursor, its limit and how often it was asked. */
let fails: (start: number, limit: number, asked: number) => boolean = () => false;
const s = useSweepSetup('sweep_skipped', { dids: DIDS, fail: ({ start, limit, asked }) => (fails(start, limit, asked) ? { status: 400 } : undefined) });
const { queued, skipped } = s;
beforeEach(() => {
  fails = () => false;
});

const sweep = (pageSize = 2) => s.sweep({ pageSize, pageAttempts: 2 });

describe('a skipped listRepos range', () => {
  it('is retried once the listing ends: its page queued and the range cleared', async () => {
    // The page at cursor 2 fails its two attempts in the listing, and comes when asked again.
    fails = (start, _limit, n) => start === 2 && n <= 2;
    const progress = await sweep();
    expect(progress).toMatchObject({ done: true, skippedPages: 1, retriedRanges: 1, skippedRanges: 0, queued: 7 });
    expect((await queued()).sort()).toEqual([...DIDS].sort());
    expect(await queued()).toEqual([DIDS[0], DIDS[1], DIDS[4], DIDS[5], DIDS[6], DIDS[2], DIDS[3]]);
    expect(await skipped()).toEqual([]);
    expect(await s.cursor()).toBe(SWEEP_DONE);
  });

  it('that fails again stays, counted; the next pass\'s retry that succeeds clears it', async () => {
    fails = (start) => start === 2;
    expect(await sweep()).toMatchObject({ done: true, skippedPages: 1, retriedRanges: 0, skippedRanges: 1, queued: 5 });
    expect(await skipped()).toEqual(['2-4']);
    // Where operators look: `skytide status` and the gauge, from Redis.
    const status = createStatusReader({ redis: s.redis, sql: () => s.db.sql, keys: s.keys, hosts: [s.host] });
    const label = s.host.replace('http://', '');
    expect((await status.read()).sweepSkipped).toEqual({ [label]: 1 });
    const bundle = createMetrics({ hosts: [label], streams: [] });
    await status.refreshGauges(bundle.gauges);
    expect((await bundle.registry.getSingleMetric('skytide_sweep_skipped_ranges')!.get()).values).toEqual([{ labels: { host: label }, value: 1 }]);
    fails = () => false;
    expect(await sweep()).toMatchObject({ done: true, skippedPages: 0, retriedRanges: 1, skippedRanges: 0 });
    expect(await skipped()).toEqual([]);
  });

  it('stays one range where a region keeps failing, whatever cursor the next pass meets it at', async () => {
    // Any page that would list DIDS[3] fails in itself.
    fails = (start, limit) => start <= 3 && 3 < start + limit;
    await sweep(2);
    expect(await skipped()).toEqual(['2-4']);
    // Another page size: the next pass meets the region at cursor 3, and its range replaces the one it overlaps.
    expect(await sweep(3)).toMatchObject({ done: true, skippedPages: 1, skippedRanges: 1 });
    expect(await skipped()).toEqual(['3-6']);
  });
});
