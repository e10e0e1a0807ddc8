// The skipped-range rules both sweepers keep (functions/sweep-skipped.ts).
import { describe, expect, it } from 'vitest';
import { overlappedBy, parseSkippedRange, rangesToRetry, restAfterRetry, skippedRangeAt } from '../../../functions/sweep-skipped.ts';

describe('a skipped range', () => {
  it('is the page size past a numeric cursor; an opaque cursor or the start has none', () => {
    expect(skippedRangeAt('2000', 1000)).toEqual({ from: 2000, to: 3000 });
    expect(skippedRangeAt('o2', 1000)).toBeUndefined();
    expect(skippedRangeAt(undefined, 1000)).toBeUndefined();
  });

  it('is read back from `<from>-<to>`, and nothing else is one', () => {
    expect(parseSkippedRange('2-4')).toEqual({ from: 2, to: 4 });
    for (const bad of ['4-2', '2-2', 'x-4', '2-', '2-4-6', '99999999999999999999-1']) expect(parseSkippedRange(bad)).toBeUndefined();
  });

  it('replaces the recorded ranges it overlaps, itself included, and no other', () => {
    expect(overlappedBy(['0-2', '2-4', '3-6', '6-8', 'junk'], { from: 3, to: 6 })).toEqual(['2-4', '3-6']);
  });

  it('is retried in cursor order; members that are no range are set apart', () => {
    expect(rangesToRetry(['10-12', 'junk', '2-4'])).toEqual({ ranges: [{ member: '2-4', range: { from: 2, to: 4 } }, { member: '10-12', range: { from: 10, to: 12 } }], invalid: ['junk'] });
  });

  it('is cleared by a retried page that reaches its end or the listing\'s, and cut to the rest when the page stops inside it', () => {
    const range = { from: 2, to: 6 };
    expect(restAfterRetry(range, { cursor: '6', repos: [1] })).toBeUndefined();
    expect(restAfterRetry(range, { repos: [1] })).toBeUndefined();
    expect(restAfterRetry(range, { cursor: '4', repos: [] })).toBeUndefined();
    expect(restAfterRetry(range, { cursor: '4', repos: [1, 2] })).toEqual({ from: 4, to: 6 });
    // Entries dropped for no valid DID were listed: a page of only those is not the listing's end.
    expect(restAfterRetry(range, { cursor: '4', repos: [], dropped: 2 })).toEqual({ from: 4, to: 6 });
    // A cursor that does not move past `from` cannot be followed: the range counts as listed rather than kept forever.
    expect(restAfterRetry(range, { cursor: '2', repos: [1] })).toBeUndefined();
    expect(restAfterRetry(range, { cursor: 'opaque', repos: [1] })).toBeUndefined();
  });
});
