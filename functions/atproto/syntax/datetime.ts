// Datetime syntax per the lexicon `datetime` format: RFC 3339 with a mandatory timezone (Z or +hh:mm, never -00:00),
// upper-case T and Z, and a value that a parser accepts as a real instant (no month 13, hour 25 or second 61).
const DATETIME_RE = /^[0-9]{4}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-6][0-9]:[0-6][0-9](\.[0-9]{1,20})?(Z|[+-][0-2][0-9]:[0-5][0-9])$/;

const YEAR_ZERO_MS = Date.parse('0000-01-01T00:00:00Z');

export function isValidDatetime(value: string): boolean {
  if (!DATETIME_RE.test(value) || value.endsWith('-00:00')) return false;
  const [date, time] = value.split('T') as [string, string];
  const [y, mo, d] = date.split('-').map(Number) as [number, number, number];
  const [h, mi, s] = time.slice(0, 8).split(':').map(Number) as [number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return false;
  const daysInMonth = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  if (d > daysInMonth) return false;
  const ms = Date.parse(value);
  // A timezone that pushes year 0000 below zero (0000-01-01T00:00:00+01:00) is not a real instant.
  return !Number.isNaN(ms) && ms >= YEAR_ZERO_MS;
}

/** The datetime as ISO 8601 with `Z` and milliseconds, or undefined when it is not a valid datetime. */
export function normalizeDatetime(value: string): string | undefined {
  if (!isValidDatetime(value)) return undefined;
  return new Date(Date.parse(value)).toISOString();
}
