// The soak in `npm run test:long` (issue 13): 90 s of 5,000 commits a second offered by a fake relay to the real
// firehose adapter process, the index consumers slowed (one second in five) for a third of it. Asserts the
// properties, never times: the adapter's RSS under 150 MB and flat, nothing dropped or trimmed, the relay saw TCP
// backpressure, the lag drained once the consumers ran again, the database equal to what was sent.
// `npm run soak` is the 10-minute run.
import { describe, expect, it } from 'vitest';
import { ADAPTER_NODE_OPTIONS, describeSoak, runSoak } from './soak.ts';

describe('soak (90 s)', () => {
  it('holds memory flat, drops nothing, pushes back on the relay and ends equal to what was sent', async () => {
    const lines: string[] = [];
    const r = await runSoak({
      seconds: 90, rate: 5000, slowFrom: 0.2, slowUntil: 0.6, highWaterMark: 50_000, drainTimeoutS: 300,
      adapterNodeOptions: ADAPTER_NODE_OPTIONS, print: (l) => lines.push(l),
    });
    console.log([...lines, describeSoak(r)].join('\n'));
    expect(r.drainedAfterS, 'drained').toBeDefined();
    expect(r.sent).toBeGreaterThan(0);
    // Nothing dropped or trimmed: one stream entry per commit sent, all indexed, the cursor at the last one.
    expect(r.entriesAdded).toBe(r.sent);
    expect(r.cursor).toBe(r.sent);
    expect(r.indexedRows).toBe(r.sent);
    expect(r.rowsByCollection).toEqual(r.expectedByCollection);
    expect(r.deadLetters).toBe(0);
    expect(r.adapterProblems).toEqual([]);
    // The relay's socket filled: TCP pushed back while the adapter held its reading.
    expect(r.backpressureTicks).toBeGreaterThan(0);
    expect(r.pauses).toBeGreaterThan(0);
    // Memory: under 150 MB, and no third of the run (after warm-up) peaks 15 MB above the first.
    expect(r.peakRssMb).toBeLessThan(150);
    expect(r.rssByThird[2] - r.rssByThird[0]).toBeLessThan(15);
    expect(r.rssByThird[1] - r.rssByThird[0]).toBeLessThan(15);
  }, 20 * 60_000);
});
