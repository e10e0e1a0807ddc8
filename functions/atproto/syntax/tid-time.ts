// A TID's timestamp: the top 53 bits of its 64-bit value are microseconds since the epoch (base32-sortable).
const S32 = '234567abcdefghijklmnopqrstuvwxyz';

export function tidMicros(tid: string): number {
  let value = 0n;
  for (const ch of tid) value = value * 32n + BigInt(S32.indexOf(ch));
  return Number(value >> 10n);
}

/** How far in the future a commit's rev may be (clock drift between us and the PDS), on the live path and in backfills. */
export const MAX_REV_DRIFT_MS = 5 * 60_000;

/**
 * A rev whose time is later than `nowMs` plus the allowed drift: the repository spec says such a commit is ignored.
 * Taken as is, it would become the repo's floor and refuse every real later write.
 */
export function isFutureRev(rev: string, nowMs: number, driftMs: number = MAX_REV_DRIFT_MS): boolean {
  return tidMicros(rev) / 1000 > nowMs + driftMs;
}
