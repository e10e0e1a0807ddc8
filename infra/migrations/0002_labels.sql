-- Labels (functions/label): the AppView's `label` table keeps one row per (src, uri, cid, val), `cid = ''` when the
-- label has none, exactly as the AppView and Ozone do; a negation is a row with neg = true, never a delete. What
-- skytide adds: what was signed and who signed it, so a label read back still verifies, and sortable keys for the
-- datetimes, because `cts` and `exp` stay exactly as signed and two spellings of one instant do not sort as text.

-- Byte order for every compared or prefix-matched column: `uri like 'at://did:plc:x/%'` can use the index, and the
-- order Postgres sorts in is the order functions/label/version.ts compares in.
alter table label alter column src type varchar collate "C";
alter table label alter column uri type varchar collate "C";
alter table label alter column cid type varchar collate "C";
alter table label alter column val type varchar collate "C";
alter table label alter column cts type varchar collate "C";
alter table label alter column exp type varchar collate "C";

-- ver as received (1, or absent); sig as received (absent only for LABEL_TRUSTED_SOURCES); the did:key of the
-- #atproto_label key that verified sig.
alter table label add column ver integer;
alter table label add column sig bytea;
alter table label add column "signingKey" varchar;
-- Seconds since 0000-01-01T00:00:00Z, 12 digits, '.', 9 fractional digits (functions/label/instant.ts). Rows that
-- predate this migration (the table had no writer) sort as the oldest.
alter table label add column "ctsKey" varchar collate "C" not null default '';
alter table label alter column "ctsKey" drop default;
alter table label add column "expKey" varchar collate "C";

-- The label in force per (src, uri, val) is the newest by "ctsKey", a negation winning a tie: queryLabels walks this
-- index in (uri, src, val) order and takes the first row of each group.
create index label_current_idx on label (uri, src, val, "ctsKey" desc, neg desc);
