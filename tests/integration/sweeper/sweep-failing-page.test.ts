// A listRepos page the relay fails as an outage would (a 500, a deadline) while it answers every other page, against a
// listRepos server on 127.0.0.1 and the real Redis and Postgres: the failure is the page's own (the relay answers
// listRepos from the start meanwhile), so it counts toward SWEEP_PAGE_ATTEMPTS and the page is skipped whole, as a 4xx
// page is, and the sweep ends; waited out instead, it held the host's lease forever. A relay that fails every request,
// that one included, is down: waited out, nothing skipped, and so is a 429 (the relay asking us to slow down).
import { describe, expect, it } from 'vitest';
import type { SweepOptions } from '../../../long-runners/sweeper/sweep.ts';
import { SWEEP_DONE } from '../../../adapters/redis/keys.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { useSweepSetup } from '../../helpers/fake-list-repos.ts';

const DIDS = Array.from({ length: 6 }, (_, i) => `did:plc:failing${String.fromCharCode(97 + i).padStart(17, 'a')}`);
const s = useSweepSetup('sweep_failing_page', { dids: DIDS });
const { relay, queued, skipped } = s;
/** Requests per cursor (null: from the start, as the probe asks); `relay.fail` says how one is answered instead of its page. */
const { asked } = relay;

/** A sweep in pages of 2, two attempts a page, fast retries; stopped after 10 s (a sweep that waits forever). */
async function sweep(overrides: Partial<SweepOptions> = {}) {
  const bundle = createMetrics({ hosts: [], streams: [] });
  const progress = await s.sweep({ pageAttempts: 2, outageMaxDelayMs: 50, metrics: bundle.metrics, signal: AbortSignal.timeout(10_000), ...overrides });
  const unavailable = Number(/skytide_sweep_problems_total\{problem="relay_unavailable"\} (\d+)/.exec(await bundle.registry.metrics())?.[1]);
  return { progress, unavailable };
}

describe('a listRepos page the relay fails every time while it answers the others', () => {
  it('answering 500: counted toward its attempts, skipped whole and recorded as a 4xx page is, and the sweep ends', async () => {
    relay.fail = ({ cursor }) => (cursor === '2' ? { status: 500 } : undefined);
    const { progress, unavailable } = await sweep();
    expect(progress).toMatchObject({ done: true, pages: 2, listed: 4, queued: 4, skippedPages: 1, retriedRanges: 0, skippedRanges: 1 });
    expect(await queued()).toEqual([DIDS[0], DIDS[1], DIDS[4], DIDS[5]]);
    expect(await skipped()).toEqual(['2-4']);
    expect(await s.cursor()).toBe(SWEEP_DONE);
    // Two attempts in the listing, two more in the retry of the range once it ended; no wait for a relay that is up.
    expect(asked.get('2')).toBe(4);
    expect(unavailable).toBe(0);
  });

  it('past its deadline: counted and skipped the same way', async () => {
    relay.fail = ({ cursor }) => (cursor === '2' ? 'hang' : undefined);
    const { progress, unavailable } = await sweep({ pageTimeoutMs: 300 });
    expect(progress).toMatchObject({ done: true, queued: 4, skippedPages: 1, skippedRanges: 1 });
    expect(await queued()).toEqual([DIDS[0], DIDS[1], DIDS[4], DIDS[5]]);
    expect(await skipped()).toEqual(['2-4']);
    expect(unavailable).toBe(0);
  });

  it('at an opaque cursor: the sweep stops with fetch_failed where the next one resumes, rather than wait forever', async () => {
    relay.opaque = true;
    relay.fail = ({ cursor }) => (cursor === 'o2' ? { status: 500 } : undefined);
    await expect(sweep()).rejects.toMatchObject({ reason: 'fetch_failed' });
    expect(await s.cursor()).toBe('o2');
    expect(asked.get('o2')).toBe(2);
  });
});

describe('a relay that is down', () => {
  it('answering 503 to every request, the one asking from the start included, is waited out: no page skipped, every DID queued once it is back', async () => {
    // Down from the first ask of page 2 for a second: with two attempts and 5 ms retries every page would have been
    // skipped by then had the failures counted.
    let downUntil: number | undefined;
    relay.fail = ({ cursor }) => {
      if (cursor === '2' && downUntil === undefined) downUntil = Date.now() + 1000;
      return downUntil !== undefined && Date.now() < downUntil ? { status: 503 } : undefined;
    };
    const { progress, unavailable } = await sweep();
    expect(progress).toMatchObject({ done: true, queued: 6, skippedPages: 0, skippedRanges: 0 });
    expect(await queued()).toEqual(DIDS);
    expect(await skipped()).toEqual([]);
    expect(unavailable).toBeGreaterThanOrEqual(3);
    // Each wait asked the relay from the start too, and was refused: the page was never held to blame.
    expect(asked.get(null)! - 1).toBeGreaterThanOrEqual(3);
  });

  it('answering one page 429 (slow down) is waited out, Retry-After honoured, without asking whether the relay is up', async () => {
    relay.fail = ({ cursor, asked: n }) => (cursor === '2' && n <= 5 ? { status: 429, headers: { 'retry-after': '0' } } : undefined);
    const { progress, unavailable } = await sweep();
    expect(progress).toMatchObject({ done: true, queued: 6, skippedPages: 0 });
    expect(await queued()).toEqual(DIDS);
    expect(unavailable).toBe(5);
    // Only the first page asked from the start: no probe.
    expect(asked.get(null)).toBe(1);
  });
});
