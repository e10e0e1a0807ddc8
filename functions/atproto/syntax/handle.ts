// Handle syntax: a DNS hostname of two or more labels, at most 253 characters; the last label (TLD) starts with a letter.
const HANDLE_RE = /^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;

export const MAX_HANDLE_LENGTH = 253;

export function isValidHandle(value: string): boolean {
  return value.length <= MAX_HANDLE_LENGTH && HANDLE_RE.test(value);
}

/**
 * Top-level domains reserved for names that never resolve on the public internet: a handle under one has valid
 * syntax but "must always fail resolution" (handle spec: `laptop.local`, `blah.arpa`), and the DID spec applies the
 * same restriction to did:web. The list is @atproto/syntax's and indigo's (`AllowedTLD`); `.test` is left out on
 * purpose, as both do, for development networks and tests.
 */
const RESERVED_TLDS: ReadonlySet<string> = new Set(['local', 'arpa', 'invalid', 'localhost', 'internal', 'example', 'onion', 'alt']);

/** Whether a hostname (a handle, a did:web's host) ends in a reserved TLD, so that resolving it is refused. */
export function hasReservedTld(hostname: string): boolean {
  return RESERVED_TLDS.has(hostname.slice(hostname.lastIndexOf('.') + 1).toLowerCase());
}
