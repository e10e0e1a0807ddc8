// Bearer-token guard for mutating routes. In dev mode the routes are open; outside it a missing token in the
// configuration closes them (503) rather than leaving them open by accident.
import type { MiddlewareHandler } from 'hono';

export interface AuthOptions {
  dev: boolean;
  token: string | undefined;
}

/** Compares in time independent of where the strings differ, so the token cannot be guessed byte by byte. */
export function constantTimeEqual(a: string, b: string): boolean {
  const ea = new TextEncoder().encode(a);
  const eb = new TextEncoder().encode(b);
  let diff = ea.length ^ eb.length;
  for (let i = 0; i < Math.max(ea.length, eb.length); i++) diff |= (ea[i] ?? 0) ^ (eb[i] ?? 0);
  return diff === 0;
}

export function requireBearer(options: AuthOptions): MiddlewareHandler {
  return async (c, next) => {
    if (options.dev) return next();
    if (options.token === undefined || options.token.length === 0) {
      return c.json({ error: 'auth_not_configured', message: 'set SKYTIDE_API_TOKEN to enable this route' }, 503);
    }
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer (.+)$/i.exec(header);
    if (match === null || !constantTimeEqual(match[1] ?? '', options.token)) {
      return c.json({ error: 'unauthorized', message: 'a valid bearer token is required' }, 401);
    }
    return next();
  };
}
