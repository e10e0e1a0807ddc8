// Lexicon `at-identifier` format: a DID when it starts with `did:`, otherwise a handle (the AppView's
// isAtIdentifierString). Neither syntax can match the other's prefix, so this is simply "DID or handle".
import { isValidDid } from './did.ts';
import { isValidHandle } from './handle.ts';

export function isValidAtIdentifier(value: string): boolean {
  return value.startsWith('did:') ? isValidDid(value) : isValidHandle(value);
}
