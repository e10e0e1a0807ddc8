// A TID's timestamp: the top 53 bits of its 64-bit value are microseconds since the epoch (base32-sortable).
const S32 = '234567abcdefghijklmnopqrstuvwxyz';

export function tidMicros(tid: string): number {
  let value = 0n;
  for (const ch of tid) value = value * 32n + BigInt(S32.indexOf(ch));
  return Number(value >> 10n);
}
