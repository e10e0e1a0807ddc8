-- The AppView reads `label` with `select *` and hands every column to its hydration as a label's JSON
-- (@atproto/bsky data-plane/server/routes/labels.js, then a lexicon check of com.atproto.label.defs#label). Columns
-- named as the lexicon's fields are checked as those fields: `ver` null (an unsigned label) fails `integer`, and
-- `sig` (bytea, which reaches JSON as {"type":"Buffer",...}, or null) fails `bytes`, so the AppView dropped every
-- label skytide stored. Under names the lexicon does not have they are unknown fields, which it ignores.
alter table label rename column ver to "labelVer";
alter table label rename column sig to "labelSig";
