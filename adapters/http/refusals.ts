// What skytide_http_refused_total counts: the routes that take a request body, and why a body was refused before its
// handler ran, and the routes whose request a path or query parameter makes invalid. One list for the routes and the
// metrics registry, so every series exists at zero from start-up.

/** The routes behind the body limit (routes/functions.ts). */
export const FUNCTION_ROUTES = ['/functions/index', '/functions/label', '/functions/backfill-repo'] as const;

/** The other routes that refuse a request as invalid (400): POST /reprocess/:did and queryLabels. */
export const PARAMETER_ROUTES = ['/reprocess/:did', '/xrpc/com.atproto.label.queryLabels'] as const;

/** Every route a refusal is counted for. */
export const REFUSING_ROUTES = [...FUNCTION_ROUTES, ...PARAMETER_ROUTES] as const;

/**
 * body_too_big: over HTTP_BODY_LIMIT_BYTES (413); invalid_json: not JSON; invalid_request: JSON, not a batch, or
 * queryLabels' parameters (400); invalid_did: what /reprocess/:did names is not a DID or can never resolve (400).
 */
export const HTTP_REFUSALS = ['body_too_big', 'invalid_json', 'invalid_request', 'invalid_did'] as const;
export type HttpRefusal = (typeof HTTP_REFUSALS)[number];
