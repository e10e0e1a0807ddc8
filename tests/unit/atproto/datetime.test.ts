// isValidDatetime reads its digits in place; this compares it with the rule written out plainly (split the string,
// ask Date for the length of the month) on generated datetimes: every month and day, years 0-99 (which Date.UTC reads
// as 1900-1999), offsets, fractions and the forbidden -00:00.
import { describe, expect, it } from 'vitest';
import { isValidDatetime } from '../../../functions/atproto/syntax/datetime.ts';

const PATTERN = /^[0-9]{4}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-6][0-9]:[0-6][0-9](\.[0-9]{1,20})?(Z|[+-][0-2][0-9]:[0-5][0-9])$/;
const YEAR_ZERO_MS = Date.parse('0000-01-01T00:00:00Z');

function rule(value: string): boolean {
  if (!PATTERN.test(value) || value.endsWith('-00:00')) return false;
  const [date, time] = value.split('T') as [string, string];
  const [y, mo, d] = date.split('-').map(Number) as [number, number, number];
  const [h, mi, s] = time.slice(0, 8).split(':').map(Number) as [number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return false;
  if (d > new Date(Date.UTC(y, mo, 0)).getUTCDate()) return false;
  const ms = Date.parse(value);
  return !Number.isNaN(ms) && ms >= YEAR_ZERO_MS;
}

describe('isValidDatetime', () => {
  it('agrees with the rule written out plainly on 100,000 generated datetimes', () => {
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const pad = (n: number, width: number) => String(n).padStart(width, '0');
    const zones = ['Z', '+01:00', '-05:30', '-00:00', '+23:59', '.123Z', '.5+02:00'];
    let valid = 0;
    for (let i = 0; i < 100_000; i++) {
      const year = next() < 0.2 ? Math.floor(next() * 200) : Math.floor(next() * 10_000);
      const value = `${pad(year, 4)}-${pad(Math.floor(next() * 14), 2)}-${pad(Math.floor(next() * 33), 2)}T` +
        `${pad(Math.floor(next() * 26), 2)}:${pad(Math.floor(next() * 61), 2)}:${pad(Math.floor(next() * 62), 2)}${zones[Math.floor(next() * zones.length)]}`;
      const expected = rule(value);
      if (expected) valid++;
      if (isValidDatetime(value) !== expected) expect(isValidDatetime(value), value).toBe(expected);
    }
    // Both answers occur often enough for the comparison to mean something.
    expect(valid).toBeGreaterThan(20_000);
    expect(valid).toBeLessThan(80_000);
  });
});
