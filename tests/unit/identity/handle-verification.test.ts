// Bidirectional handle verification (functions/atproto/identity/handle.ts). A handle under a reserved TLD has valid
// syntax but "must always fail resolution" (handle spec: laptop.local, blah.arpa): it never verifies, and no resolver
// is asked, even one that would answer with the DID. `.test` stays usable (development networks and tests).
import { describe, expect, it } from 'vitest';
import { verifiedHandle, type HandleResolver } from '../../../functions/atproto/identity/handle.ts';
import type { AtprotoIdentity } from '../../../functions/atproto/identity/did-document.ts';
import { hasReservedTld, isValidHandle } from '../../../functions/atproto/syntax/handle.ts';

const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';
const identity = (claimedHandle: string): AtprotoIdentity => ({ did: DID, signingKey: { curve: 'k256', bytes: new Uint8Array(33) }, pds: 'https://pds.example.com', claimedHandle });

/** A resolver for which every handle points back at DID, and which remembers what it was asked. */
function pointsBack(): HandleResolver & { asked: string[] } {
  const asked: string[] = [];
  return { asked, resolve: async (handle) => (asked.push(handle), DID) };
}

describe('handles under a reserved TLD', () => {
  const reserved = ['laptop.local', 'blah.arpa', '4.3.2.1.in-addr.arpa', 'x.internal', 'foo.localhost', 'site.invalid', 'a.onion', 'a.example', 'a.alt', 'Laptop.LOCAL'];

  it.each(reserved)('%s never verifies, and no resolver is asked', async (handle) => {
    expect(isValidHandle(handle)).toBe(true);
    const resolver = pointsBack();
    expect(await verifiedHandle(identity(handle), resolver)).toBeUndefined();
    expect(resolver.asked).toEqual([]);
  });

  it.each(['alice.test', 'alice.bsky.social', 'example.com', 'local.host.com', 'arpa.example.com'])('%s verifies when it points back', async (handle) => {
    const resolver = pointsBack();
    expect(hasReservedTld(handle)).toBe(false);
    expect(await verifiedHandle(identity(handle), resolver)).toBe(handle);
    expect(resolver.asked).toEqual([handle]);
  });
});
