// Whether a string is one of the closed set of reasons (functions/reasons.ts): the tests' check that every reason an
// error or an outcome carries was registered there first.
import { REASONS, type Reason } from '../../functions/reasons.ts';

export function isReason(value: string): value is Reason {
  return (REASONS as readonly string[]).includes(value);
}
