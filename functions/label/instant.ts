// Datetimes as sortable keys. `cts` and `exp` are stored exactly as signed (a round trip must give back the signed
// bytes), but two spellings of one instant (`...Z`, `...+01:00`, 3 or 6 fractional digits) do not sort as strings.
// The key is seconds since 0000-01-01T00:00:00Z, zero-padded to 12 digits, a dot, and 9 fractional digits: byte
// order is time order (nanosecond resolution; digits past the ninth are cut), in TypeScript and in Postgres
// (`collate "C"`). Computed by hand: Date maps years 0-99 to 19xx and keeps only milliseconds.
const DATETIME_RE = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:Z|([+-])(\d\d):(\d\d))$/;

/** Days from 0000-03-01 (proleptic Gregorian), the civil-from-days algorithm's epoch. */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const mp = (month + 9) % 12;
  const doy = Math.floor((153 * mp + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe;
}

// 0000-01-01 is 60 days before 0000-03-01 (year 0 is a leap year); a negative offset may push an instant a day back.
const ORIGIN_DAYS = daysFromCivil(0, 1, 1) - 1;

function format(seconds: number, fraction: string): string {
  return `${String(seconds).padStart(12, '0')}.${fraction.slice(0, 9).padEnd(9, '0')}`;
}

/** The sortable key of a datetime that passed `isValidDatetime`; undefined for anything else. */
export function instantKey(datetime: string): string | undefined {
  const m = DATETIME_RE.exec(datetime);
  if (m === null) return undefined;
  const n = (i: number) => Number(m[i]);
  const days = daysFromCivil(n(1), n(2), n(3)) - ORIGIN_DAYS;
  let seconds = days * 86_400 + n(4) * 3600 + n(5) * 60 + n(6);
  if (m[8] !== undefined) seconds -= (m[8] === '-' ? -1 : 1) * (n(9) * 3600 + n(10) * 60);
  return format(seconds, m[7] ?? '');
}

/** The key of a clock reading (milliseconds since the Unix epoch), comparable with `instantKey`. */
export function instantKeyOfMs(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  const millis = ms - seconds * 1000;
  const unixOriginDays = daysFromCivil(1970, 1, 1) - ORIGIN_DAYS;
  return format(unixOriginDays * 86_400 + seconds, String(millis).padStart(3, '0'));
}

/** Postgres reads a timestamp literal only with a year from 0001 and an offset under 16 hours. */
const PG_UNREADABLE_RE = /^0000-|[+-](1[6-9]|2\d):\d\d$/;
/** An offset other than zero: `::timestamp` would drop it and read the local time as if it were UTC. */
const NONZERO_OFFSET_RE = /[+-](?!00:00$)\d\d:\d\d$/;
const PG_MIN = Date.parse('0001-01-01T00:00:00.000Z');
const PG_MAX = Date.parse('9999-12-31T23:59:59.999Z');

/**
 * `exp` as the AppView's `label.exp` column holds it. The AppView reads that column with `exp::timestamp > now()`.
 * A cast to `timestamp` (without time zone) ignores an offset: `2026-01-01T12:00:00-08:00` reads as 12:00, so the
 * label would lapse eight hours early (and one at +05:00 five hours late). And a datetime Postgres cannot read at all
 * (year 0000, an offset of 16 hours or more: both valid datetimes) fails the whole getLabels query. So an `exp` with
 * an offset other than zero, or one Postgres cannot read, is written as its instant in UTC (milliseconds, clamped to
 * Postgres's years: a label that expired before year 1 is as expired in year 1); the signed spelling is kept beside it
 * (store.ts, "labelExp"). An `exp` in UTC is kept exactly as signed.
 */
export function appviewExp(exp: string): string {
  if (!PG_UNREADABLE_RE.test(exp) && !NONZERO_OFFSET_RE.test(exp)) return exp;
  const ms = Math.min(Math.max(Date.parse(exp), PG_MIN), PG_MAX);
  return new Date(ms).toISOString();
}
