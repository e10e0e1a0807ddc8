// Handle syntax: a DNS hostname of two or more labels, at most 253 characters; the last label (TLD) starts with a letter.
const HANDLE_RE = /^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;

export const MAX_HANDLE_LENGTH = 253;

export function isValidHandle(value: string): boolean {
  return value.length <= MAX_HANDLE_LENGTH && HANDLE_RE.test(value);
}
