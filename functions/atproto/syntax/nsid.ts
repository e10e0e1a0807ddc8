// NSID syntax: a reversed domain authority (segments of letters, digits and inner hyphens, the first starting with a
// letter) plus a name segment of letters and digits starting with a letter; at least three segments, 317 characters.
const NSID_RE = /^[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)+\.[a-zA-Z][a-zA-Z0-9]{0,62}$/;

export const MAX_NSID_LENGTH = 317;

export function isValidNsid(value: string): boolean {
  return value.length <= MAX_NSID_LENGTH && NSID_RE.test(value);
}
