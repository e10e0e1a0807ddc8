-- The AppView reads `label.exp` with `exp::timestamp > now()`, and one row Postgres cannot read as a timestamp (year
-- 0000, an offset of 16 hours or more: valid datetimes all the same) fails its whole getLabels query, so every label
-- of every subject asked about with it. Such an `exp` is now written to `exp` as its instant in UTC (clamped to the
-- years Postgres has), and exactly as signed to "labelExp", which is NULL when `exp` holds it as signed.
alter table label add column if not exists "labelExp" varchar;
-- Rows already stored: the instant from "expKey" (functions/label/instant.ts: its seconds count from the day before
-- 0000-01-01, and year 0000 has 366 days, so 0001-01-01T00:00:00Z is 31708800).
update label set "labelExp" = exp,
  exp = to_char(greatest(timestamp '0001-01-01 00:00:00' + ((split_part("expKey", '.', 1)::bigint - 31708800) * interval '1 second'),
    timestamp '0001-01-01 00:00:00'), 'YYYY-MM-DD"T"HH24:MI:SS".000Z"')
  where exp is not null and "labelExp" is null and exp ~ '^0000-|[+-](1[6-9]|2[0-9]):[0-9][0-9]$';
