import { describe, expect, it } from 'vitest';
import { formatDuration, formatProgress, progressLine } from '../../../long-runners/cli/progress-line.ts';
import { sweepProgress } from '../../../long-runners/sweeper/progress.ts';

function sink(isTTY: boolean) {
  const writes: string[] = [];
  return { stream: { isTTY, columns: 100, write: (s: string) => void writes.push(s) }, writes };
}

describe('progress lines', () => {
  it('formats durations', () => {
    expect(formatDuration(45_000)).toBe('45s');
    expect(formatDuration(65_000)).toBe('1m05s');
    expect(formatDuration(2 * 3600_000 + 3 * 60_000)).toBe('2h03m');
  });

  it('shows a bar, the rate and an ETA when the total is known', () => {
    const line = formatProgress('reprocess did:plc:x', { done: 2500, total: 10_000, unit: 'records', extra: ['index'] }, 5000);
    expect(line).toBe('reprocess did:plc:x: [#####...............] 2,500/10,000 records (25%), 500 records/s, index, ETA 15s, elapsed 5s');
  });

  it('shows no ETA without a total (listRepos gives none)', () => {
    const line = formatProgress('sweep h', { done: 300, unit: 'repos', extra: ['page 3'] }, 3000);
    expect(line).toBe('sweep h: 300 repos, 100 repos/s, page 3, elapsed 3s');
    expect(line).not.toContain('ETA');
  });

  it('redraws one terminal line in place and ends it on finish', () => {
    let t = 0;
    const { stream, writes } = sink(true);
    const line = progressLine('x', { stream, now: () => t });
    line.update({ done: 1, total: 4, unit: 'records' });
    t = 50;
    line.update({ done: 2, total: 4, unit: 'records' }); // within the redraw interval: not drawn
    t = 200;
    line.update({ done: 3, total: 4, unit: 'records' });
    line.finish({ done: 4, total: 4, unit: 'records' });
    expect(writes).toHaveLength(3);
    expect(writes.every((w) => w.startsWith('\r'))).toBe(true);
    expect(writes[2]).toContain('4/4 records (100%)');
    expect(writes[2]?.endsWith('\n')).toBe(true);
  });

  it('writes plain lines, throttled, when not on a terminal', () => {
    let t = 0;
    const { stream, writes } = sink(false);
    const report = sweepProgress('relay.example', { stream, now: () => t, plainEveryMs: 5000 });
    for (let page = 1; page <= 10; page++) {
      t = page * 1000;
      report({ pages: page, listed: page * 100, queued: page * 10, skippedInSync: 0, skippedPages: 0, retriedRanges: 0, skippedRanges: 0, filtered: 0, invalidDids: 0, done: false });
    }
    report({ pages: 10, listed: 1000, queued: 100, skippedInSync: 0, skippedPages: 0, retriedRanges: 0, skippedRanges: 0, filtered: 0, invalidDids: 0, done: true });
    expect(writes.every((w) => !w.includes('\r') && w.endsWith('\n'))).toBe(true);
    // The first page, one 5 s later, and the last.
    expect(writes).toHaveLength(3);
    expect(writes[2]).toContain('1,000 repos');
    expect(writes[2]).toContain('100 queued');
  });
});
