// Record key syntax: 1-512 characters from [A-Za-z0-9_~.:-], and never `.` or `..` (they would be path segments).
const RKEY_RE = /^[a-zA-Z0-9_~.:-]{1,512}$/;

export function isValidRecordKey(value: string): boolean {
  return value !== '.' && value !== '..' && RKEY_RE.test(value);
}
