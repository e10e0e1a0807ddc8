// Entries a listRepos page holds whose `did` is no DID, against a listRepos server on 127.0.0.1 and the real Redis and
// Postgres: they are dropped, counted and logged, and a page of only such entries, with a cursor, is not the end of
// the listing: the sweep follows its cursor and queues the pages after it.
import { describe, expect, it } from 'vitest';
import { SWEEP_DONE } from '../../../adapters/redis/keys.ts';
import { silentLog, type Log, type LogFields } from '../../../functions/ports.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { useSweepSetup } from '../../helpers/fake-list-repos.ts';

const DIDS = Array.from({ length: 6 }, (_, i) => `did:plc:invalid${String.fromCharCode(97 + i).padStart(17, 'a')}`);
const s = useSweepSetup('sweep_invalid_dids', { dids: DIDS });
const { queued } = s;
/** What the relay lists at each position instead of a valid DID's entry. */
const invalid = s.relay.replaced;

describe('a listRepos page whose entries all have no valid DID', () => {
  it('is not the end of the listing: its cursor is followed, the pages after it queued, the entries dropped counted and logged', async () => {
    // The page at cursor 2: a did:web past the 2 KB a DID may have, and a did that is no DID at all.
    const long = `did:web:${'x'.repeat(3000)}.com`;
    invalid.set(2, { did: long, head: 'bafy', rev: '3laaaaaaaaaaa' }).set(3, { did: 'not-a-did', head: 'bafy' });
    const bundle = createMetrics({ hosts: [], streams: [] });
    const warnings: { msg: string; fields: LogFields }[] = [];
    const log: Log = { ...silentLog, warn: (msg, fields = {}) => void warnings.push({ msg, fields }), child: () => log };
    const progress = await s.sweep({ log, metrics: bundle.metrics, signal: AbortSignal.timeout(20_000) });
    expect(progress).toMatchObject({ done: true, pages: 3, listed: 4, queued: 4, invalidDids: 2, skippedPages: 0 });
    expect(await queued()).toEqual([DIDS[0], DIDS[1], DIDS[4], DIDS[5]]);
    expect(await s.cursor()).toBe(SWEEP_DONE);
    expect(await bundle.registry.metrics()).toContain('skytide_sweep_problems_total{problem="invalid_syntax"} 2');
    // One line for the page, with an example cut short (a DID of 3,000 characters is not logged whole).
    const dropped = warnings.filter((w) => w.msg === 'listRepos entries without a valid DID dropped');
    expect(dropped).toHaveLength(1);
    expect(dropped[0]!.fields).toMatchObject({ cursor: '2', dropped: 2 });
    expect(String(dropped[0]!.fields['example'])).toMatch(/^did:web:x{92}… \(3012 characters\)$/);
  });

  it('at the end of the listing is counted too, and the listing ends there', async () => {
    invalid.set(4, 'no object').set(5, { head: 'bafy' });
    const bundle = createMetrics({ hosts: [], streams: [] });
    const progress = await s.sweep({ metrics: bundle.metrics, signal: AbortSignal.timeout(20_000) });
    expect(progress).toMatchObject({ done: true, pages: 3, listed: 4, queued: 4, invalidDids: 2 });
    expect(await queued()).toEqual(DIDS.slice(0, 4));
    expect(await bundle.registry.metrics()).toContain('skytide_sweep_problems_total{problem="invalid_syntax"} 2');
  });
});
