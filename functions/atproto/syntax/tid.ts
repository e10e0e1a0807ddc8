// TID syntax: 13 base32-sortable characters; the first is limited so the top bit of the 64-bit value stays 0.
const TID_RE = /^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$/;

export function isValidTid(value: string): boolean {
  return TID_RE.test(value);
}
