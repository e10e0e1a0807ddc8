// Bidirectional handle verification (identity spec): a DID document only claims a handle; the handle counts once it
// resolves back to the same DID. Resolution itself is I/O behind the HandleResolver port, which must tell a definite
// answer from a failure to find out: a transient DNS, PLC or web failure must never clear a handle that was verified.
import type { AtprotoIdentity } from './did-document.ts';
import { hasReservedTld, isValidHandle } from '../syntax/handle.ts';

export interface HandleResolver {
  /**
   * The DID a handle points at, or undefined when it definitely points nowhere (NXDOMAIN or no usable TXT record,
   * and a well-known answer that is a 404 or not a DID). Throws when it could not find out: DependencyError('dns')
   * when the resolver is down or timed out, another SkytideError when the handle's own web server failed.
   */
  resolve(handle: string): Promise<string | undefined>;
}

/**
 * The verified handle of an identity, or undefined when it definitely has none (`handle.invalid` in AppView terms):
 * no claim, a claim that is not a handle or is under a reserved TLD, or a handle that points elsewhere or nowhere. Throws (from the resolver)
 * when that could not be found out; the caller keeps what it had.
 */
export async function verifiedHandle(identity: AtprotoIdentity, resolver: HandleResolver): Promise<string | undefined> {
  const claimed = identity.claimedHandle;
  // A handle under a reserved TLD (.local, .arpa, ...) never verifies, whatever a resolver says: nothing is asked.
  if (claimed === undefined || !isValidHandle(claimed) || hasReservedTld(claimed)) return undefined;
  return (await resolver.resolve(claimed)) === identity.did ? claimed : undefined;
}
