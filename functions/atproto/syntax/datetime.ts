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

/**
 * The lexicon `datetime` format exactly as the AppView's strict validator decides it (@atproto/syntax
 * isDatetimeString: a regex, then V8's Date parser, then a year range). It differs from isValidDatetime, which is
 * kept as is because ingestion relies on it:
 * - the day is only checked to be 01-31, whatever the month: V8 rolls `1985-02-30` over to March 2, so the
 *   AppView accepts it (isValidDatetime refuses it);
 * - the fraction may have any number of digits, up to the 64-character total (isValidDatetime allows 1-20);
 * - the instant, once moved to UTC, must fall in years 0000-9999: `9999-12-31T23:59:59-01:00` (year 10000) is
 *   refused (isValidDatetime accepts it).
 * Both refuse second 60 (V8 does not parse it), day 00, and `-00:00`.
 */
export function isLexiconDatetime(value: string): boolean {
  if (value.length > 64 || value.endsWith('-00:00')) return false;
  const m = LEXICON_DATETIME_RE.exec(value);
  if (m === null) return false;
  const [, year, month, day, hour, minute, second, offset] = m;
  if (day === '00' || second === '60') return false; // shapes the regex lets through but V8 does not parse
  if (offset === 'Z') return true;
  // Only the first and last days of the range can leave it; a fraction cannot tip the comparison, being under a
  // second while both sides are whole seconds.
  const local = Number(hour) * 3600 + Number(minute) * 60 + Number(second);
  const shift = (Number(offset!.slice(1, 3)) * 60 + Number(offset!.slice(4, 6))) * 60;
  if (offset![0] === '+') return !(year === '0000' && month === '01' && day === '01' && local < shift);
  return !(year === '9999' && month === '12' && day === '31' && local + shift >= 86400);
}

const LEXICON_DATETIME_RE =
  /^([0-9]{4})-(0[1-9]|1[012])-([0-2][0-9]|3[01])T([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9]|60)(?:\.[0-9]+)?(Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$/;
