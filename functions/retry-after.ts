// An HTTP Retry-After header (RFC 9110 §10.2.3) read as a delay: delay-seconds or an HTTP date. Pure, for every
// caller that asks an upstream that may answer 429 or 503 with one (the sweepers' listRepos, backfill-repo's getRepo).
// Each caller caps the delay itself: how long it is worth waiting depends on what waits (a sweep, one delivery).

/** Retry-After in milliseconds; undefined when absent or unreadable. A date already past is 0. */
export function retryAfterMs(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
