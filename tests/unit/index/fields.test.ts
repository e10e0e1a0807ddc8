// Record field readers (functions/index/plugins/fields.ts) against the rule they implement, written out here without
// the fast paths: a valid datetime becomes ISO with Z, anything else what Date.parse makes of it, or the epoch (so
// does an instant outside years 0000-9999); and against the AppView's own normalizeDatetimeAlways.
import { describe, expect, it } from 'vitest';
import { createdAt } from '../../../functions/index/plugins/fields.ts';
import { isValidDatetime } from '../../../functions/atproto/syntax/datetime.ts';
import { cleanText } from '../../../functions/index/rows.ts';
import { normalizeDatetimeAlways } from '@atproto/syntax';

function createdAtRule(value: string): string {
  const ms = Date.parse(value);
  const inYears = ms >= Date.parse('0000-01-01T00:00:00Z') && ms < Date.parse('+010000-01-01T00:00:00Z');
  if (isValidDatetime(value) && inYears) return new Date(ms).toISOString();
  return Number.isNaN(ms) || !inYears ? '1970-01-01T00:00:00.000Z' : new Date(ms).toISOString();
}

/** A deterministic generator (mulberry32), so a failure names its case. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('createdAt', () => {
  it('gives what the rule gives for datetimes in the normal form, valid or not (day 30 of February, hour 24, year 0)', () => {
    const next = random(11);
    const pad = (n: number, w: number) => String(n).padStart(w, '0');
    const cases = ['2024-02-30T00:00:00.000Z', '2023-02-29T12:00:00.000Z', '2024-01-01T24:00:00.000Z', '0000-01-01T00:00:00.000Z', '2024-13-01T00:00:00.000Z', '2024-12-31T23:59:60.000Z'];
    for (let i = 0; i < 5_000; i++) {
      const y = Math.floor(next() * 10_000);
      const parts = [pad(y, 4), pad(Math.floor(next() * 14), 2), pad(Math.floor(next() * 33), 2), pad(Math.floor(next() * 26), 2), pad(Math.floor(next() * 61), 2), pad(Math.floor(next() * 62), 2), pad(Math.floor(next() * 1000), 3)];
      cases.push(`${parts[0]}-${parts[1]}-${parts[2]}T${parts[3]}:${parts[4]}:${parts[5]}.${parts[6]}Z`);
    }
    for (const value of cases) expect(createdAt(value), value).toBe(createdAtRule(value));
  });

  it('normalises the other forms as before: offsets, no milliseconds, more digits, garbage', () => {
    for (const value of ['2024-05-01T10:00:00+02:00', '2024-05-01T10:00:00Z', '2024-05-01T10:00:00.123456Z', 'yesterday', '', '2024-05-01']) {
      expect(createdAt(value), value).toBe(createdAtRule(value));
    }
    expect(createdAt(42)).toBe('1970-01-01T00:00:00.000Z');
  });

  it("gives what the AppView's normalizeDatetimeAlways gives, instants outside years 0000-9999 (once in UTC) included", () => {
    const next = random(12);
    const pad = (n: number, w: number) => String(n).padStart(w, '0');
    const cases = ['0000-01-01T00:30:00+01:00', '9999-12-31T23:59:59-01:00', '9999-12-31T23:59:59.999Z', '0000-01-01T00:00:00Z', '1985-02-30T00:00:00Z', '2024-05-01T10:00:00.1234567+05:30'];
    for (let i = 0; i < 5_000; i++) {
      const year = next() < 0.2 ? (next() < 0.5 ? 0 : 9999) : Math.floor(next() * 10_000);
      const offset = next() < 0.3 ? 'Z' : `${next() < 0.5 ? '+' : '-'}${pad(Math.floor(next() * 24), 2)}:${pad(Math.floor(next() * 60), 2)}`;
      const fraction = next() < 0.5 ? '' : `.${String(Math.floor(next() * 1e6)).slice(0, 1 + Math.floor(next() * 6))}`;
      cases.push(`${pad(year, 4)}-${pad(1 + Math.floor(next() * 12), 2)}-${pad(1 + Math.floor(next() * 31), 2)}T${pad(Math.floor(next() * 24), 2)}:${pad(Math.floor(next() * 60), 2)}:${pad(Math.floor(next() * 60), 2)}${fraction}${offset}`);
    }
    for (const value of cases) expect(createdAt(value), value).toBe(normalizeDatetimeAlways(value));
  });
});

describe('cleanText', () => {
  it('returns a clean string unchanged and removes NUL and lone surrogates from the rest', () => {
    expect(cleanText('plain 🦋 text')).toBe('plain 🦋 text');
    expect(cleanText('a\u0000b')).toBe('ab');
    expect(cleanText('a\ud800b')).toBe('a\ufffdb');
    expect(cleanText('\udc00\u0000')).toBe('\ufffd');
  });
});
