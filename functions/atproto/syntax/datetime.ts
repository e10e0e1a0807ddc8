// Datetime syntax per the lexicon `datetime` format: RFC 3339 with a mandatory timezone (Z or +hh:mm, never -00:00),
// upper-case T and Z, and a value that a parser accepts as a real instant (no month 13, hour 25 or second 61).
const DATETIME_RE = /^[0-9]{4}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-6][0-9]:[0-6][0-9](\.[0-9]{1,20})?(Z|[+-][0-2][0-9]:[0-5][0-9])$/;

const YEAR_ZERO_MS = Date.parse('0000-01-01T00:00:00Z');

export function isValidDatetime(value: string): boolean {
  if (!DATETIME_RE.test(value) || value.endsWith('-00:00')) return false;
  // The pattern fixed where every digit is: read them in place (this runs for every record's createdAt).
  const y = digits(value, 0, 4);
  const mo = digits(value, 5, 2);
  const d = digits(value, 8, 2);
  const h = digits(value, 11, 2);
  const mi = digits(value, 14, 2);
  const s = digits(value, 17, 2);
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return false;
  // NOTE: Date.UTC reads years 0-99 as 1900-1999; kept for February, where it decides, so the rule is unchanged.
  const daysInMonth = mo === 2 ? new Date(Date.UTC(y, mo, 0)).getUTCDate() : DAYS_IN_MONTH[mo - 1]!;
  if (d > daysInMonth) return false;
  const ms = Date.parse(value);
  // A timezone that pushes year 0000 below zero (0000-01-01T00:00:00+01:00) is not a real instant.
  return !Number.isNaN(ms) && ms >= YEAR_ZERO_MS;
}

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** The number written by the `count` ASCII digits at `from`. */
function digits(value: string, from: number, count: number): number {
  let n = 0;
  for (let i = from; i < from + count; i++) n = n * 10 + value.charCodeAt(i) - 48;
  return n;
}

/** The datetime as ISO 8601 with `Z` and milliseconds, or undefined when it is not a valid datetime. */
export function normalizeDatetime(value: string): string | undefined {
  if (!isValidDatetime(value)) return undefined;
  return new Date(Date.parse(value)).toISOString();
}
