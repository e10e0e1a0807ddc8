// DID syntax per the atproto DID spec: `did:<lowercase method>:<identifier>`, at most 2 KiB; the identifier may hold
// percent-encoding but must not end with `%` or `:`.
const DID_RE = /^did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]$/;

export const MAX_DID_LENGTH = 2048;

export function isValidDid(value: string): boolean {
  return value.length <= MAX_DID_LENGTH && DID_RE.test(value);
}
