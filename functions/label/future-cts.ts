// A label's `cts` decides which of its versions is in force (version.ts: the newest `cts` wins), so a label stored
// with a cts its labeler's clock put ahead would outrank every later label of its (src, uri, val), negations included,
// until our clock caught up with it. So a label is stored only once its cts is due (at most the allowed clock drift
// ahead of our clock, as for a commit's rev: atproto/syntax/tid-time.ts):
// - up to MAX_CTS_DEFER_MS ahead, once its signature and source are checked, it is not due yet: it waits
//   (`label_not_due`), parked out of label_live under its source until due (notDueOn), so a labeler whose clock runs
//   ahead loses nothing, only waits, and one that sends many such labels holds only its own subscription;
// - further ahead, no clock is that wrong: a verdict on the label (`future_cts`), counted with the other rejections.
import { MAX_REV_DRIFT_MS } from '../atproto/syntax/tid-time.ts';
import { instantKey, instantKeyOfMs } from './instant.ts';
import type { Label } from './label.ts';

/** How far ahead of our clock a label's cts may be (clock drift between us and the labeler): as for commit revs. */
export const MAX_CTS_DRIFT_MS = MAX_REV_DRIFT_MS;
/** How far ahead a label's cts may be and still be waited for; beyond it the label is refused. */
export const MAX_CTS_DEFER_MS = 24 * 3600_000;

export type CtsTiming = { due: true } | { due: false; refuse: boolean; message: string };

const DUE: CtsTiming = { due: true };

/** Whether the label's cts is due at `nowMs`; if not, whether to wait for it or refuse it, and why. */
export function ctsTiming(label: Label, nowMs: number): CtsTiming {
  const key = instantKey(label.cts);
  if (key === undefined || key <= instantKeyOfMs(nowMs + MAX_CTS_DRIFT_MS)) return DUE;
  if (key > instantKeyOfMs(nowMs + MAX_CTS_DEFER_MS)) {
    return { due: false, refuse: true, message: `label cts ${label.cts} is more than ${MAX_CTS_DEFER_MS / 3600_000} hours ahead of our clock` };
  }
  return { due: false, refuse: false, message: `label cts ${label.cts} is more than ${MAX_CTS_DRIFT_MS / 60_000} minutes ahead of our clock: it waits until due` };
}

/**
 * What a label that is not due waits on (an ItemOutcome's `on`): its source and when it is due, so the caller parks
 * it per source out of label_live (a labeler's not-due labels count against that labeler's parked labels, never hold
 * the others) and releases it at that time, with no host to check (adapters/redis/label-parking.ts).
 */
export function notDueOn(src: string, dueMs: number): string {
  return `${NOT_DUE_PREFIX}${dueMs}:${src}`;
}

export const NOT_DUE_PREFIX = 'due:';

/** The source and due time of a not-due wait (`notDueOn`), or undefined when `on` is not one. */
export function parseNotDueOn(on: string): { src: string; dueMs: number } | undefined {
  if (!on.startsWith(NOT_DUE_PREFIX)) return undefined;
  const rest = on.slice(NOT_DUE_PREFIX.length);
  const colon = rest.indexOf(':');
  const dueMs = Number(rest.slice(0, colon));
  if (colon <= 0 || !Number.isSafeInteger(dueMs)) return undefined;
  return { src: rest.slice(colon + 1), dueMs };
}

/** When a label's cts is due: once our clock is within the allowed drift of it. */
export function ctsDueAt(label: Label): number {
  return Date.parse(label.cts) - MAX_CTS_DRIFT_MS;
}
