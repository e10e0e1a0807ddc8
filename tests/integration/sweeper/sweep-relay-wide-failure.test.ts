// A relay that fails every request the same way, the one from the start of the listing included, is down, whatever
// the failure looks like: a 404 (listRepos withdrawn behind a proxy), a 200 whose body is no page (an HTML maintenance
// page), a TLS handshake that fails (a front end serving the wrong certificate). Against a listRepos server on
// 127.0.0.1 and the real Redis and Postgres. Only 5xx, 408 and dropped connections used to ask the relay from the
// start; any other failure cost a page try at once, and an outage of that kind skipped page after page (review:
// relay-404-forever.ts, maintenance-page.ts, tls-cert-outage.ts). Such an outage is waited out, no page held to blame;
// a relay that answers from the start but fails page after page stops the sweep after SWEEP_MAX_SKIPPED_IN_A_ROW
// skipped pages rather than skip on; the Worker's sweep judges the same way (a tick fails, nothing counted).
import { describe, expect, it } from 'vitest';
import type { Metrics } from '../../../functions/ports.ts';
import { noMetrics, silentLog } from '../../../functions/ports.ts';
import { SWEEP_DONE, sweepSkippedKey } from '../../../adapters/redis/keys.ts';
import { sweepTick } from '../../../adapters/runtime/worker-sweep.ts';
import { useSweepSetup } from '../../helpers/fake-list-repos.ts';

const DIDS = Array.from({ length: 8 }, (_, i) => `did:plc:relaywide${String.fromCharCode(97 + i).padStart(15, 'a')}`);
const s = useSweepSetup('sweep_relay_wide', { dids: DIDS });
const { relay, queued, skipped } = s;

/** Metrics that count relay_unavailable waits and call `onWait` with the count after each. */
function waitCounter(onWait: (waits: number) => void): { metrics: Metrics; waits: () => number } {
  let waits = 0;
  return {
    metrics: { inc: (name, labels) => void (name === 'skytide_sweep_problems_total' && labels?.['problem'] === 'relay_unavailable' && onWait(++waits)) },
    waits: () => waits,
  };
}

/** The sweep mid-listing: its stored cursor at '2', a numeric one whose page could be skipped. */
async function midListing(): Promise<void> {
  await s.redis.set(s.keys.cursor('repo_backfill', s.host), '2');
}

describe('a relay failing every request, the one from the start included', () => {
  it.each([
    ['404 (listRepos withdrawn behind a proxy)', 404],
    ['403 (a maintenance block)', 403],
    ['200 with a body that is no page (a maintenance page)', 200],
  ] as const)('answering %s is waited out: no page skipped, every DID queued once it is back', async (_what, status) => {
    await midListing();
    let down = true;
    relay.fail = () => (down ? { status } : undefined);
    // Back after three waits: with two attempts each, three pages would have been skipped by then had it counted.
    const counter = waitCounter((n) => void (n >= 3 && (down = false)));
    const progress = await s.sweep({ pageAttempts: 2, outageMaxDelayMs: 20, metrics: counter.metrics, signal: AbortSignal.timeout(10_000) });
    expect(progress).toMatchObject({ done: true, skippedPages: 0, skippedRanges: 0, queued: 6 });
    expect(await queued()).toEqual(DIDS.slice(2));
    expect(await skipped()).toEqual([]);
    expect(await s.cursor()).toBe(SWEEP_DONE);
    expect(counter.waits()).toBe(3);
  });

  it('failing its TLS handshake (a failure we do not recognise) is waited out until stopped: nothing skipped, the cursor kept', async () => {
    const host = s.host.replace('http://', 'https://');
    await s.redis.set(s.keys.cursor('repo_backfill', host), '2');
    const stop = new AbortController();
    const counter = waitCounter((n) => void (n >= 4 && stop.abort()));
    const progress = await s.sweep({ host, pageAttempts: 2, outageMaxDelayMs: 20, metrics: counter.metrics, signal: AbortSignal.any([stop.signal, AbortSignal.timeout(10_000)]) });
    expect(progress).toMatchObject({ done: false, skippedPages: 0, skippedRanges: 0, pages: 0 });
    expect(stop.signal.aborted).toBe(true);
    expect(await s.redis.get(s.keys.cursor('repo_backfill', host))).toBe('2');
    expect(await s.redis.smembers(sweepSkippedKey(s.keys, host))).toEqual([]);
  });
});

describe('a relay that answers from the start but fails every other page', () => {
  it('skips at most maxSkippedInARow pages in a row, then stops with fetch_failed at the next, where the next sweep resumes', async () => {
    await midListing();
    relay.fail = ({ cursor }) => (cursor === null ? undefined : { status: 400 });
    await expect(s.sweep({ pageAttempts: 2, maxSkippedInARow: 2, signal: AbortSignal.timeout(10_000) })).rejects.toMatchObject({ reason: 'fetch_failed' });
    expect(await skipped()).toEqual(['2-4', '4-6']);
    expect(await s.cursor()).toBe('6');
    expect(relay.asked.get('6')).toBe(2);
    expect(relay.asked.has('8')).toBe(false);
  });

  it('counts from zero again after a page that comes', async () => {
    await midListing();
    relay.fail = ({ cursor }) => (cursor === '2' || cursor === '6' ? { status: 400 } : undefined);
    expect(await s.sweep({ pageAttempts: 2, maxSkippedInARow: 1, signal: AbortSignal.timeout(10_000) })).toMatchObject({ done: true, skippedPages: 2 });
    expect(await queued()).toEqual([DIDS[4], DIDS[5]]);
  });
});

describe('the Worker\'s sweep', () => {
  it('skips at most maxSkippedInARow pages in a row of a relay that answers from the start, then stops at the next, tick after tick', async () => {
    const sql = s.db.sql;
    const host = s.host;
    await sql.query('delete from sweep_state where host = $1', [host]);
    await sql.query(`insert into sweep_state (host, cursor, "updatedAt") values ($1, '2', now())`, [host]);
    const tick = () => sweepTick({
      sql, fetch: globalThis.fetch, queue: { send: async () => {} }, hosts: [host], pageSize: 2, pageTimeoutMs: 5_000, pagesPerTick: 10,
      pageAttempts: 1, maxSkippedInARow: 2, everyMs: 3_600_000, leaseMs: 60_000, holder: 'tick-skip-cap', now: () => Date.now(), log: silentLog, metrics: noMetrics,
    });
    relay.fail = ({ cursor }) => (cursor === null ? undefined : { status: 400 });
    const first = (await tick())[0];
    expect(first).toMatchObject({ state: 'failed', error: expect.stringContaining('3 pages in a row') });
    // Without the cap, the tick went on past the listing's end (cursor 8 of 8 DIDs) to its page limit, a range a page.
    expect(await sql.query('select cursor, skipped from sweep_state where host = $1', [host])).toEqual([{ cursor: '6', skipped: ['2-4', '4-6'] }]);
    expect((await tick())[0]).toMatchObject({ state: 'failed', error: expect.stringContaining('3 pages in a row') });
    expect(await sql.query('select cursor, skipped from sweep_state where host = $1', [host])).toEqual([{ cursor: '6', skipped: ['2-4', '4-6'] }]);
    expect(relay.asked.has('8')).toBe(false);
  });

  it('counts nothing against a page while the relay answers every request 404: the tick fails, the page comes once it is back', async () => {
    const sql = s.db.sql;
    const host = s.host;
    await sql.query('delete from sweep_state where host = $1', [host]);
    await sql.query(`insert into sweep_state (host, cursor, "updatedAt") values ($1, '2', now())`, [host]);
    const sent: string[] = [];
    const tick = () => sweepTick({
      sql, fetch: globalThis.fetch, queue: { send: async (bodies) => void sent.push(...bodies.map((b) => b.did)) }, hosts: [host], pageSize: 2,
      pageTimeoutMs: 5_000, pagesPerTick: 10, pageAttempts: 2, everyMs: 3_600_000, leaseMs: 60_000, holder: 'tick-relay-wide', now: () => Date.now(),
      log: silentLog, metrics: noMetrics,
    });
    relay.fail = () => ({ status: 404 });
    for (let i = 0; i < 3; i++) expect((await tick())[0]).toMatchObject({ state: 'failed', error: expect.stringContaining('HTTP 404') });
    expect(await sql.query('select cursor, failures, skipped from sweep_state where host = $1', [host])).toEqual([{ cursor: '2', failures: 0, skipped: [] }]);
    relay.fail = () => undefined;
    const back = (await tick())[0];
    expect(back).toMatchObject({ state: 'done' });
    expect(back).not.toHaveProperty('skippedPages');
    expect(sent).toEqual(DIDS.slice(2));
  });
});
