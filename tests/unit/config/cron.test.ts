import { describe, expect, it } from 'vitest';
import { parseCron } from '../../../adapters/config/cron.ts';

const at = (iso: string) => new Date(iso);
const next = (expr: string, from: string) => parseCron(expr).next(at(from)).toISOString();

describe('SWEEP_CRON expressions (UTC)', () => {
  it('finds the next minute that matches', () => {
    expect(next('0 3 * * *', '2026-11-24T02:59:30Z')).toBe('2026-11-24T03:00:00.000Z');
    expect(next('0 3 * * *', '2026-11-24T03:00:00Z')).toBe('2026-11-25T03:00:00.000Z');
    expect(next('*/15 * * * *', '2026-11-24T10:07:00Z')).toBe('2026-11-24T10:15:00.000Z');
    expect(next('30 1-3/2 * * *', '2026-11-24T01:31:00Z')).toBe('2026-11-24T03:30:00.000Z');
    expect(next('0 0 1 1,7 *', '2026-11-24T00:00:00Z')).toBe('2027-01-01T00:00:00.000Z');
  });

  it('matches either day field when both are restricted, as cron does', () => {
    // 2026-11-24 is a Tuesday; the next Sunday (0) is the 29th, before the 1st of December.
    expect(next('0 12 1 * 0', '2026-11-24T13:00:00Z')).toBe('2026-11-29T12:00:00.000Z');
  });

  it('names what it cannot read', () => {
    expect(() => parseCron('0 3 * *')).toThrow(/expected 5 fields/);
    expect(() => parseCron('61 * * * *')).toThrow(/cron "61 \* \* \* \*"/);
    expect(() => parseCron('0 0 30 2 *').next(at('2026-01-01T00:00:00Z'))).toThrow(/does not fire/);
  });
});
