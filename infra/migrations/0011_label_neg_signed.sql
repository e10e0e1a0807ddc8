-- Whether the signed label carried a `neg` field at all. The AppView's `neg boolean not null` cannot tell `neg:false`
-- from no `neg`, yet the spec allows both and they are different signed bytes (older Ozone and other labeler
-- libraries sign `neg:false`): without this, such a label read back no longer verifies. NULL: a row written before
-- this migration, read as skytide read it then (`neg` present only when true). A nullable column: no rewrite.
alter table label add column if not exists "negSigned" boolean;
