// The ranges a listRepos sweep skipped, for both sweepers (the Redis one in long-runners/sweeper/sweep.ts, which keeps
// them in `repo_backfill:skipped:<host>`, and the Worker's cron, adapters/runtime/worker-sweep.ts, in
// `sweep_state.skipped`). A numeric-cursor page that keeps failing in itself is skipped as `<from>-<to>` (`to` = from
// plus the page size): the repos listed after cursor `from` up to `to`. The rules, pure so both keep them alike:
// - a range is recorded with the ranges it overlaps dropped: the pass listed what came before `from` and goes on
//   from `to`, so all the pass cannot reach there is the new range (a region that keeps failing is one range, whatever
//   cursors successive passes meet it at, never one more per pass);
// - once a pass has ended, each recorded range is retried as one page from `from`: a page that comes queues its repos
//   as any page would and clears the range, or leaves its rest when the page ended before `to` (the relay's cursor
//   inside the range); a page that fails again leaves the range, retried after the next pass.
// A member that is not a range (written by hand) is no range to retry: it is dropped, and the caller says so.
// Bounds are BigInts: a relay's numeric cursor may be a uint64 or a timestamp in nanoseconds, past 2^53, where Number
// arithmetic rounds (a range that then failed to parse was dropped by the retry, its repos never listed).

/**
 * Pages skipped one after another (each after failing its attempts while the relay answered from the start) before
 * a sweep stops with fetch_failed at the next failing one instead of skipping it too: a relay that answers its first
 * page and fails every other is broken, not a run of bad pages; skipping on would record range after range to the end
 * of the listing (or, past it, for ever). SWEEP_MAX_SKIPPED_IN_A_ROW sets it.
 */
export const DEFAULT_MAX_SKIPPED_IN_A_ROW = 10;

export interface SkippedRange {
  from: bigint;
  to: bigint;
}

/** `<from>-<to>`, the stored form. */
export function rangeMember(range: SkippedRange): string {
  return `${range.from}-${range.to}`;
}

/** The range a page skipped at `cursor` stands for; undefined when the cursor is not numeric (it cannot be skipped). */
export function skippedRangeAt(cursor: string | undefined, pageSize: number): SkippedRange | undefined {
  if (cursor === undefined || !/^\d+$/.test(cursor)) return undefined;
  const from = BigInt(cursor);
  return { from, to: from + BigInt(pageSize) };
}

export function parseSkippedRange(member: string): SkippedRange | undefined {
  const m = /^(\d+)-(\d+)$/.exec(member);
  if (m === null) return undefined;
  const from = BigInt(m[1] ?? '');
  const to = BigInt(m[2] ?? '');
  return from < to ? { from, to } : undefined;
}

/** The recorded members `range` replaces: those it overlaps (the same range included). */
export function overlappedBy(members: readonly string[], range: SkippedRange): string[] {
  return members.filter((member) => {
    const other = parseSkippedRange(member);
    return other !== undefined && other.from < range.to && range.from < other.to;
  });
}

/** The recorded ranges in the order a retry takes them (by `from`), and the members that are no range. */
export function rangesToRetry(members: readonly string[]): { ranges: { member: string; range: SkippedRange }[]; invalid: string[] } {
  const ranges: { member: string; range: SkippedRange }[] = [];
  const invalid: string[] = [];
  for (const member of members) {
    const range = parseSkippedRange(member);
    if (range === undefined) invalid.push(member);
    else ranges.push({ member, range });
  }
  const order = (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);
  ranges.sort((a, b) => order(a.range.from, b.range.from) || order(a.range.to, b.range.to));
  return { ranges, invalid };
}

/**
 * What is left of `range` after the page listed from its `from` came: nothing when the page reached `to` or the
 * listing's end (no cursor, no entries, or a cursor that is not numeric or not past `from`, which cannot be followed);
 * the rest from the page's cursor when that stops inside the range. `dropped` entries (no valid DID) were listed too:
 * a page of only those is not the end.
 */
export function restAfterRetry(range: SkippedRange, page: { cursor?: string; repos: readonly unknown[]; dropped?: number }): SkippedRange | undefined {
  if (page.repos.length + (page.dropped ?? 0) === 0 || page.cursor === undefined || !/^\d+$/.test(page.cursor)) return undefined;
  const reached = BigInt(page.cursor);
  return reached > range.from && reached < range.to ? { from: reached, to: range.to } : undefined;
}

/**
 * How many recorded ranges end one after another at `cursor`: the pages skipped in a row just before it, for a sweep
 * that keeps no counter (the Worker's cron, whose ticks are separate invocations). A page that came in between moved
 * the cursor to the relay's own next cursor, which breaks the chain. Ranges a previous pass left that happen to meet
 * end to end at this cursor count too: at worst the sweep stops early there, and the next pass tries again.
 */
export function skippedInARowAt(members: readonly string[], cursor: string | undefined): number {
  if (cursor === undefined || !/^\d+$/.test(cursor)) return 0;
  const byEnd = new Map<bigint, SkippedRange>();
  for (const member of members) {
    const range = parseSkippedRange(member);
    if (range !== undefined) byEnd.set(range.to, range);
  }
  let count = 0;
  for (let end = BigInt(cursor), range = byEnd.get(end); range !== undefined && count < byEnd.size; range = byEnd.get(end)) {
    count++;
    end = range.from;
  }
  return count;
}
