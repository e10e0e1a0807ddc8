// The root of every error skytide raises on purpose. Each carries a reason from the closed set (the metric label,
// DLQ reason and log field), context fields for the log line, and the underlying cause.
import type { Reason } from './reasons.ts';

export class SkytideError extends Error {
  readonly reason: Reason;
  readonly context: Record<string, unknown>;

  constructor(reason: Reason, message: string, context: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SkytideError';
    this.reason = reason;
    this.context = context;
  }
}

/** Our own state is corrupt or an invariant broke: the process must exit loudly rather than carry on. */
export class InvariantError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InvariantError';
  }
}

/** A one-line description of any thrown value, for logs (`err` field). */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause === undefined ? '' : `; cause: ${describeError(err.cause)}`;
    return `${err.name}: ${err.message}${cause}`;
  }
  return String(err);
}
