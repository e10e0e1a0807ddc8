// A label's `cts` decides which of its versions is in force (version.ts: the newest `cts` wins), so a label whose cts
// a labeler's clock put years ahead would outrank every later label of its (src, uri, val), negations included, for
// good. As for a commit's rev (atproto/syntax/tid-time.ts), a cts further ahead than the allowed clock drift is refused:
// a verdict on the label (`future_cts`), counted with the other rejections.
import { MAX_REV_DRIFT_MS } from '../atproto/syntax/tid-time.ts';
import { instantKey, instantKeyOfMs } from './instant.ts';
import type { Label } from './label.ts';

/** How far ahead of our clock a label's cts may be (clock drift between us and the labeler): as for commit revs. */
export const MAX_CTS_DRIFT_MS = MAX_REV_DRIFT_MS;

/** Why the label's cts is too far in the future, or undefined when it is not. */
export function futureCts(label: Label, nowMs: number): string | undefined {
  const key = instantKey(label.cts);
  if (key === undefined || key <= instantKeyOfMs(nowMs + MAX_CTS_DRIFT_MS)) return undefined;
  return `label cts ${label.cts} is more than ${MAX_CTS_DRIFT_MS / 60_000} minutes ahead of our clock`;
}
