// Bearer-token guard for mutating routes. In dev mode the routes are open; outside it a missing token in the
// configuration closes them (503) rather than leaving them open by accident. The header is parsed and the token
// compared (in constant time) by hono's bearerAuth; every refusal answers 401 with our JSON error body.
import type { Context, MiddlewareHandler } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';

export interface AuthOptions {
  dev: boolean;
  token: string | undefined;
}

const unauthorized = (c: Context) => c.json({ error: 'unauthorized', message: 'a valid bearer token is required' }, 401);

export function requireBearer(options: AuthOptions): MiddlewareHandler {
  if (options.dev) return (_c, next) => next();
  const token = options.token;
  if (token === undefined || token.length === 0) {
    return async (c) => c.json({ error: 'auth_not_configured', message: 'set SKYTIDE_API_TOKEN to enable this route' }, 503);
  }
  // NOTE: bearerAuth refuses by throwing an HTTPException carrying this response (its status too: a malformed header
  // is 401 here, not hono's 400), with a WWW-Authenticate challenge added; app.ts's onError answers with it.
  return bearerAuth({
    token,
    noAuthenticationHeader: { message: unauthorized },
    invalidAuthenticationHeader: { message: unauthorized },
    invalidToken: { message: unauthorized },
  });
}
