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

/** The services skytide depends on. When one is down, work waits for it; nothing is judged by its absence. */
export const DEPENDENCIES = ['postgres', 'redis', 'plc', 'dns'] as const;
export type Dependency = (typeof DEPENDENCIES)[number];

/**
 * A dependency is down, unreachable or overloaded: an outage, never a verdict on the input. Functions let it propagate
 * (or throw it) so the caller waits with backoff and tries the same work again; it never moves anything to a DLQ,
 * never counts against an entry's attempts, and never marks a repo or a commit bad.
 */
export class DependencyError extends SkytideError {
  readonly dependency: Dependency;

  constructor(dependency: Dependency, message: string, context: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super('dependency_unavailable', message, { ...context, dependency }, options);
    this.name = 'DependencyError';
    this.dependency = dependency;
  }
}

/**
 * A guarded fetch refused to follow a redirect (each hop of a URL from the network must be judged, and most callers
 * follow none). Its code stays `forbidden_address`; a caller to whom a redirect says nothing about its input (a PDS
 * answering 302 for a while) judges it as that host's failure instead.
 */
export class RedirectRefusedError extends SkytideError {
  readonly status: number;

  constructor(origin: string, status: number) {
    super('forbidden_address', `refusing a redirect (HTTP ${status}) from ${origin}`, { url: origin, status });
    this.name = 'RedirectRefusedError';
    this.status = status;
  }
}

/** The DependencyError anywhere in `err`'s cause chain, if any (a function may wrap one). */
export function dependencyErrorIn(err: unknown): DependencyError | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof DependencyError) return e;
  }
  return undefined;
}

/** The nearest string `code` in `err`'s cause chain (a SQLSTATE, an errno name), or '' (wrappers keep the cause). */
export function errorCodeIn(err: unknown): string {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return '';
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
