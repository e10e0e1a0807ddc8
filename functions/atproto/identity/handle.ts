// Bidirectional handle verification (identity spec): a DID document only claims a handle; the handle counts once it
// resolves back to the same DID. Resolution itself is I/O behind the HandleResolver port.
import type { AtprotoIdentity } from './did-document.ts';
import { isValidHandle } from '../syntax/handle.ts';

export interface HandleResolver {
  /** The DID a handle points at, or undefined when it points nowhere. */
  resolve(handle: string): Promise<string | undefined>;
}

/** The verified handle of an identity, or undefined (`handle.invalid` in AppView terms). */
export async function verifiedHandle(identity: AtprotoIdentity, resolver: HandleResolver): Promise<string | undefined> {
  const claimed = identity.claimedHandle;
  if (claimed === undefined || !isValidHandle(claimed)) return undefined;
  try {
    return (await resolver.resolve(claimed)) === identity.did ? claimed : undefined;
  } catch {
    return undefined;
  }
}
