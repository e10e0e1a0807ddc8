-- What skytide keeps of a label beyond the AppView's columns moves out of `label` into a table of its own. The
-- AppView reads `label` with `select *` and hands every column to its hydration as the label's JSON, and its lexicon
-- check keeps fields it does not know: each label in its API answers carried our columns (the signature as
-- {"type":"Buffer","data":[...]}, the did:key that verified it, the sortable keys), some 400 bytes of ours per label.
-- `label` is now the AppView's table as its migrations made it (with 0002's byte-order collations), a projection of
-- `label_version`: one row per (src, uri, cid, val) holding the whole version (functions/label/version.ts) and what
-- was signed. The label function writes the version first, gated on being newer, then the AppView's row from it.
create table label_version (
  src varchar collate "C" not null,
  uri varchar collate "C" not null,
  cid varchar collate "C" not null,
  val varchar collate "C" not null,
  neg boolean not null,
  cts varchar collate "C" not null,
  exp varchar collate "C",
  "negSigned" boolean,
  "labelExp" varchar,
  "labelVer" integer,
  "labelSig" bytea,
  "signingKey" varchar,
  "ctsKey" varchar collate "C" not null,
  "expKey" varchar collate "C",
  primary key (src, uri, cid, val)
);
insert into label_version (src, uri, cid, val, neg, cts, exp, "negSigned", "labelExp", "labelVer", "labelSig", "signingKey", "ctsKey", "expKey")
  select src, uri, cid, val, neg, cts, exp, "negSigned", "labelExp", "labelVer", "labelSig", "signingKey", "ctsKey", "expKey" from label
  order by src, uri, cid, val;
-- The label in force per (src, uri, val) is the newest by "ctsKey", a negation winning a tie: queryLabels walks this
-- index in (uri, src, val) order and takes the first row of each group (0002's label_current_idx, moved).
create index label_version_current_idx on label_version (uri, src, val, "ctsKey" desc, neg desc);
drop index if exists label_current_idx;
-- Dropping columns rewrites nothing (their space is reclaimed as rows are next written).
alter table label drop column "negSigned", drop column "labelExp", drop column "labelVer", drop column "labelSig",
  drop column "signingKey", drop column "ctsKey", drop column "expKey";
