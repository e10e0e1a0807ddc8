// What skytide_http_refused_total counts: the routes that take a request body, and why a body was refused before its
// handler ran. One list for the routes and the metrics registry, so every series exists at zero from start-up.

/** The routes behind the body limit (routes/functions.ts). */
export const FUNCTION_ROUTES = ['/functions/index', '/functions/label', '/functions/backfill-repo'] as const;

/** body_too_big: over HTTP_BODY_LIMIT_BYTES (413); invalid_json: not JSON; invalid_request: JSON, not a batch (400). */
export const HTTP_REFUSALS = ['body_too_big', 'invalid_json', 'invalid_request'] as const;
export type HttpRefusal = (typeof HTTP_REFUSALS)[number];
