-- The AppView reads `label.exp` with `exp::timestamp > now()`, and a cast to `timestamp` (without time zone) ignores
-- an offset: an exp of `2026-01-01T12:00:00-08:00` reads as 12:00 and the label lapses eight hours early (one at
-- +05:00, five hours late). 0015 rewrote only the exps Postgres cannot read at all; now every exp with an offset other
-- than zero is written to `exp` as its instant in UTC (milliseconds, clamped to the years Postgres has), and exactly as
-- signed to "labelExp" (functions/label/instant.ts, appviewExp). Rows already stored: the instant from "expKey",
-- whose seconds count from the day before 0000-01-01 (0001-01-01T00:00:00Z is 31708800, as in 0015).
update label set "labelExp" = exp,
  exp = to_char(least(greatest(timestamp '0001-01-01 00:00:00' + ((split_part("expKey", '.', 1)::bigint - 31708800) * interval '1 second'),
      timestamp '0001-01-01 00:00:00'), timestamp '9999-12-31 23:59:59'), 'YYYY-MM-DD"T"HH24:MI:SS')
    || '.' || left(split_part("expKey", '.', 2), 3) || 'Z'
  where exp is not null and "labelExp" is null and "expKey" is not null
    and exp ~ '[+-][0-9][0-9]:[0-9][0-9]$' and exp !~ '[+-]00:00$';
