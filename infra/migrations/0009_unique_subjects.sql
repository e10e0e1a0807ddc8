-- One row per subject, as the AppView keeps it: its UNIQUE constraints on like, repost, follow, actor_block, list_item
-- and list_block (functions/index/duplicates.ts). Until now every record had its row, so two likes of one post by one
-- account counted twice, listed twice and notified twice, where the AppView shows one. The other records of a subject
-- are kept in duplicate_record, pointing at the holder: the live record with the smallest URI (compared as code
-- points, collate "C", as the indexer compares them).
--
-- Rows already indexed are settled first: each subject keeps its smallest URI's row; the others move to
-- duplicate_record, taking their counts, notifications and feed items with them. Then the constraints replace the
-- plain indexes on the same columns (a UNIQUE index answers the same lookups).

with ranked as (
  select uri, min(uri collate "C") over (partition by subject, creator) as holder from "like"
), moved as (
  delete from "like" l using ranked r where l.uri = r.uri and r.uri <> r.holder
  returning l.uri, l.cid, l.subject, l."indexedAt", r.holder
), kept as (
  insert into duplicate_record (uri, cid, "duplicateOf", "indexedAt") select uri, cid, holder, "indexedAt" from moved
  on conflict (uri) do update set "duplicateOf" = excluded."duplicateOf"
), counted as (
  update post_agg p set "likeCount" = p."likeCount" - m.n
  from (select subject, count(*) as n from moved group by subject) m where p.uri = m.subject
)
delete from notification n using moved m where n."recordUri" = m.uri;

with ranked as (
  select uri, min(uri collate "C") over (partition by creator, subject) as holder from repost
), moved as (
  delete from repost x using ranked r where x.uri = r.uri and r.uri <> r.holder
  returning x.uri, x.cid, x.subject, x."indexedAt", r.holder
), kept as (
  insert into duplicate_record (uri, cid, "duplicateOf", "indexedAt") select uri, cid, holder, "indexedAt" from moved
  on conflict (uri) do update set "duplicateOf" = excluded."duplicateOf"
), counted as (
  update post_agg p set "repostCount" = p."repostCount" - m.n
  from (select subject, count(*) as n from moved group by subject) m where p.uri = m.subject
), items as (
  delete from feed_item f using moved m where f.uri = m.uri
)
delete from notification n using moved m where n."recordUri" = m.uri;

with ranked as (
  select uri, min(uri collate "C") over (partition by creator, "subjectDid") as holder from follow
), moved as (
  delete from follow x using ranked r where x.uri = r.uri and r.uri <> r.holder
  returning x.uri, x.cid, x.creator, x."subjectDid", x."indexedAt", r.holder
), kept as (
  insert into duplicate_record (uri, cid, "duplicateOf", "indexedAt") select uri, cid, holder, "indexedAt" from moved
  on conflict (uri) do update set "duplicateOf" = excluded."duplicateOf"
), counted as (
  -- One update per profile_agg row: an account may be both a follower and a followed account here.
  update profile_agg p set "followersCount" = p."followersCount" - m.followers, "followsCount" = p."followsCount" - m.follows
  from (
    select did, sum(followers) as followers, sum(follows) as follows from (
      select "subjectDid" as did, 1 as followers, 0 as follows from moved union all select creator, 0, 1 from moved
    ) as s group by did
  ) m where p.did = m.did
)
delete from notification n using moved m where n."recordUri" = m.uri;

with ranked as (
  select uri, min(uri collate "C") over (partition by creator, "subjectDid") as holder from actor_block
), moved as (
  delete from actor_block x using ranked r where x.uri = r.uri and r.uri <> r.holder
  returning x.uri, x.cid, x."indexedAt", r.holder
)
insert into duplicate_record (uri, cid, "duplicateOf", "indexedAt") select uri, cid, holder, "indexedAt" from moved
on conflict (uri) do update set "duplicateOf" = excluded."duplicateOf";

with ranked as (
  select uri, min(uri collate "C") over (partition by "listUri", "subjectDid") as holder from list_item
), moved as (
  delete from list_item x using ranked r where x.uri = r.uri and r.uri <> r.holder
  returning x.uri, x.cid, x."indexedAt", r.holder
)
insert into duplicate_record (uri, cid, "duplicateOf", "indexedAt") select uri, cid, holder, "indexedAt" from moved
on conflict (uri) do update set "duplicateOf" = excluded."duplicateOf";

with ranked as (
  select uri, min(uri collate "C") over (partition by creator, "subjectUri") as holder from list_block
), moved as (
  delete from list_block x using ranked r where x.uri = r.uri and r.uri <> r.holder
  returning x.uri, x.cid, x."indexedAt", r.holder
)
insert into duplicate_record (uri, cid, "duplicateOf", "indexedAt") select uri, cid, holder, "indexedAt" from moved
on conflict (uri) do update set "duplicateOf" = excluded."duplicateOf";

alter table "like" add constraint like_unique_subject unique (subject, creator);
drop index like_subject_creator_idx;
alter table repost add constraint repost_unique_subject unique (creator, subject);
alter table follow add constraint follow_unique_subject unique (creator, "subjectDid");
drop index follow_creator_subject_idx;
alter table actor_block add constraint actor_block_unique_subject unique (creator, "subjectDid");
drop index actor_block_creator_subject_idx;
alter table list_item add constraint list_item_unique_subject_in_list unique ("listUri", "subjectDid");
drop index list_item_list_uri_idx;
alter table list_block add constraint list_block_unique_subject unique (creator, "subjectUri");
drop index list_block_creator_idx;
