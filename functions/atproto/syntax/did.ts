// DID syntax per the atproto DID spec: `did:<lowercase method>:<identifier>`, at most 2 KiB; the identifier may hold
// percent-encoding but must not end with `%` or `:`.
import { hasReservedTld, isValidHandle } from './handle.ts';

const DID_RE = /^did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]$/;

export const MAX_DID_LENGTH = 2048;

export function isValidDid(value: string): boolean {
  return value.length <= MAX_DID_LENGTH && DID_RE.test(value);
}

/** A did:plc identifier: 24 characters of base32 (a-z, 2-7), the hash of the DID's genesis operation. */
const PLC_RE = /^did:plc:[a-z2-7]{24}$/;
/** localhost, with a percent-encoded port: the only did:web with a port, and for development only. */
const LOCALHOST_WEB_RE = /^did:web:localhost(%3A[0-9]{1,5})?$/;

/**
 * Why a syntactically valid DID can never resolve in atproto, or undefined when it may: did:plc identifiers are 24
 * base32 characters; did:web is a hostname only (no path, no percent-encoding, not under a reserved TLD such as
 * .local or .arpa), with a port only on localhost; no other method is supported. Such a DID is refused before any request is made (atproto-interop-tests'
 * did_parse_invalid.txt).
 */
export function unresolvableDid(did: string): string | undefined {
  if (did.startsWith('did:plc:')) return PLC_RE.test(did) ? undefined : 'a did:plc identifier is 24 characters of base32 (a-z, 2-7)';
  if (did.startsWith('did:web:')) {
    if (LOCALHOST_WEB_RE.test(did)) return undefined;
    const host = did.slice('did:web:'.length);
    if (!isValidHandle(host)) return 'a did:web identifier is a hostname: no path, no percent-encoding, a port only on localhost';
    // The handles' TLD rule holds for did:web too (DID spec); bare `localhost` above stays, for development.
    return hasReservedTld(host) ? 'a did:web host under a reserved TLD (.local, .arpa, .internal, .example, ...) never resolves' : undefined;
  }
  return 'only did:plc and did:web are supported';
}

/** What is wrong with a DID named in configuration (`is not a DID`, or why it cannot exist), or undefined. */
export function configuredDidProblem(value: string): string | undefined {
  if (!isValidDid(value)) return 'is not a DID';
  const why = unresolvableDid(value);
  if (why !== undefined) return `cannot exist in atproto (${why})`;
  // DIDs compare as written, and the network writes a did:web's host in lower case: `did:web:Example.COM` would keep
  // (or drop, or trust) no one.
  // (Its port's `%3A` is no host: upper case, as the spec writes it.)
  if (value.startsWith('did:web:')) {
    const host = didWebHost(value);
    if (host !== host.toLowerCase()) return `names its host in capitals: the network writes it in lower case (${value.replace(host.split(':')[0]!, host.split(':')[0]!.toLowerCase())})`;
  }
  return undefined;
}

/** The host (and port, for localhost) a resolvable did:web's document lives at. */
export function didWebHost(did: string): string {
  return did.slice('did:web:'.length).replace('%3A', ':');
}
