// How a route answers when one of our dependencies is down: 503 with Retry-After, naming the dependency, so a caller
// tries again later instead of taking the answer for a verdict on what it sent.
import type { Context } from 'hono';
import type { DependencyError } from '../../functions/errors.ts';

/** Seconds a caller is asked to wait after an outage answer: long enough not to hammer, short enough to resume soon. */
export const OUTAGE_RETRY_AFTER_SECONDS = 10;

export function answerOutage(c: Context, outage: DependencyError): Response {
  c.header('Retry-After', String(OUTAGE_RETRY_AFTER_SECONDS));
  // A dependency that answered too late (queryLabels' statement timeout) is told apart from one that is down.
  const timeoutMs = outage.context['timeoutMs'];
  const what = typeof timeoutMs === 'number' ? `did not answer within ${timeoutMs} ms` : 'is unavailable';
  return c.json({ error: 'dependency_unavailable', dependency: outage.dependency, message: `${outage.dependency} ${what}; retry later` }, 503);
}
