// The skipped-range rules both sweepers keep (functions/sweep-skipped.ts).
import { describe, expect, it } from 'vitest';
import { overlappedBy, parseSkippedRange, rangeMember, rangesToRetry, restAfterRetry, skippedInARowAt, skippedRangeAt } from '../../../functions/sweep-skipped.ts';

describe('a skipped range', () => {
  it('is the page size past a numeric cursor; an opaque cursor or the start has none', () => {
    expect(skippedRangeAt('2000', 1000)).toEqual({ from: 2000n, to: 3000n });
    expect(skippedRangeAt('o2', 1000)).toBeUndefined();
    expect(skippedRangeAt(undefined, 1000)).toBeUndefined();
  });

  it('is read back from `<from>-<to>`, and nothing else is one', () => {
    expect(parseSkippedRange('2-4')).toEqual({ from: 2n, to: 4n });
    for (const bad of ['4-2', '2-2', 'x-4', '2-', '2-4-6', '99999999999999999999-1']) expect(parseSkippedRange(bad)).toBeUndefined();
  });

  it('replaces the recorded ranges it overlaps, itself included, and no other', () => {
    expect(overlappedBy(['0-2', '2-4', '3-6', '6-8', 'junk'], { from: 3n, to: 6n })).toEqual(['2-4', '3-6']);
  });

  it('is retried in cursor order; members that are no range are set apart', () => {
    expect(rangesToRetry(['10-12', 'junk', '2-4'])).toEqual({ ranges: [{ member: '2-4', range: { from: 2n, to: 4n } }, { member: '10-12', range: { from: 10n, to: 12n } }], invalid: ['junk'] });
  });

  it('is cleared by a retried page that reaches its end or the listing\'s, and cut to the rest when the page stops inside it', () => {
    const range = { from: 2n, to: 6n };
    expect(restAfterRetry(range, { cursor: '6', repos: [1] })).toBeUndefined();
    expect(restAfterRetry(range, { repos: [1] })).toBeUndefined();
    expect(restAfterRetry(range, { cursor: '4', repos: [] })).toBeUndefined();
    expect(restAfterRetry(range, { cursor: '4', repos: [1, 2] })).toEqual({ from: 4n, to: 6n });
    // Entries dropped for no valid DID were listed: a page of only those is not the listing's end.
    expect(restAfterRetry(range, { cursor: '4', repos: [], dropped: 2 })).toEqual({ from: 4n, to: 6n });
    // A cursor that does not move past `from` cannot be followed: the range counts as listed rather than kept forever.
    expect(restAfterRetry(range, { cursor: '2', repos: [1] })).toBeUndefined();
    expect(restAfterRetry(range, { cursor: 'opaque', repos: [1] })).toBeUndefined();
  });
});

describe('a skipped range at a numeric cursor past 2^53 (a uint64 or nanosecond cursor)', () => {
  const huge = '9007199254740993'; // 2^53 + 1: a Number reads it as 2^53
  it('keeps its cursor exactly, through its stored form and back', () => {
    const range = skippedRangeAt(huge, 1000);
    expect(range).toEqual({ from: 9007199254740993n, to: 9007199254741993n });
    expect(rangeMember(range!)).toBe('9007199254740993-9007199254741993');
    expect(parseSkippedRange('9007199254740993-9007199254741993')).toEqual(range);
    expect(parseSkippedRange('18446744073709551615-18446744073709552615')).toEqual({ from: 18446744073709551615n, to: 18446744073709552615n });
  });

  it('overlaps, orders and is cut by exact bounds', () => {
    expect(overlappedBy(['9007199254740992-9007199254740993', '9007199254741993-9007199254742993', '9007199254740000-9007199254740994'], { from: 9007199254740993n, to: 9007199254741993n }))
      .toEqual(['9007199254740000-9007199254740994']);
    expect(rangesToRetry(['9007199254740994-9007199254740995', '9007199254740993-9007199254740995']).ranges.map((r) => r.member))
      .toEqual(['9007199254740993-9007199254740995', '9007199254740994-9007199254740995']);
    expect(restAfterRetry({ from: 9007199254740993n, to: 9007199254741993n }, { cursor: '9007199254740995', repos: [1] })).toEqual({ from: 9007199254740995n, to: 9007199254741993n });
  });
});

describe('the pages skipped in a row before a cursor (the Worker keeps no counter)', () => {
  it('are the recorded ranges that end one after another at the cursor', () => {
    expect(skippedInARowAt(['2-4', '4-6', '6-8'], '8')).toBe(3);
    expect(skippedInARowAt(['6-8', 'junk', '2-4', '4-6'], '6')).toBe(2);
  });

  it('are broken by a page that came between them, and are none at the start, at an opaque cursor or with none recorded', () => {
    // 4-6 came: the relay's cursor went to 7, and 7-9 was skipped after it.
    expect(skippedInARowAt(['2-4', '7-9'], '9')).toBe(1);
    expect(skippedInARowAt(['2-4', '4-6'], '7')).toBe(0);
    expect(skippedInARowAt(['2-4'], undefined)).toBe(0);
    expect(skippedInARowAt(['2-4'], 'o4')).toBe(0);
    expect(skippedInARowAt([], '4')).toBe(0);
  });

  it('count exactly past 2^53', () => {
    expect(skippedInARowAt(['9007199254740993-9007199254741993', '9007199254741993-9007199254742993'], '9007199254742993')).toBe(2);
    expect(skippedInARowAt(['9007199254740993-9007199254741993'], '9007199254741994')).toBe(0);
  });
});
