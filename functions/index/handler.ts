// The `index` function: a batch of stream events becomes ONE Postgres transaction of multi-row upserts and deletes.
// Pure over its ports (sql, clock, log, metrics, and optionally identity and handle resolvers): it holds nothing
// between calls, so it runs in-process under the consumer, behind POST /functions/index, or in a Worker. It marks each
// event ok or dead (bad identifiers) and throws only when the database fails, so the caller retries the whole batch.
//
// Whatever the batch boundaries, the database ends as if the events were applied one at a time:
// - record events follow the rev rule (processor.ts): their final state depends only on the set applied;
// - #account changes of a DID apply in the order of their time, and a write counts exactly when its account is
//   active at the write's time (account-state.ts); deletes always count;
// - a DID whose deletion its PDS confirmed (repo_sync.status = 'deleted') gets no row from any event, and a write
//   older than the repo's last verified snapshot (repo_sync.rev) is stale (account-deletion.ts); a delete older than
//   it still goes through the rev rule (see applyBatch).
import { isBackfillSeq, type StreamEvent } from '../events.ts';
import type { Sql, SqlExecutor } from '../ports.ts';
import type { BatchResult, ResyncRequest } from '../result.ts';
import { AggregateDeltas } from './aggregates.ts';
import { writeActors, type HandleChange } from './actors.ts';
import { newestCommits, pickWinners, planBatch, type BatchPlan, type RecordOp } from './plan.ts';
import { activeAt, alwaysActive, applyChange, appviewUpstreamStatus, currentChange, keptChanges, normalizeTime, type AccountChange } from './account-state.ts';
import { holdIndexLockForBatch, lockAccounts, NO_FACTS, readAccountFacts, writeAccountStates, type AccountFacts, type AccountResyncReason, type ResyncMark } from './account-store.ts';
import { verifyIdentities, type IdentityPass, type IdentityPassPorts } from './identity-pass.ts';
import { cleanText } from './rows.ts';
import { push, writeRecordRows } from './processor.ts';
import { settleDuplicates } from './duplicates.ts';
import { appliedOps, readStoredOps } from './transitions.ts';
import { chainedOps, handOverCandidates, leavesOf, noteKept, sameSubjects, type KeptNotifications } from './kept-notifications.ts';
import { postFates, postsNeedingHistory } from './post-fates.ts';
import { membershipOps, membershipsBefore } from './memberships-at.ts';
import { madeAndRemoved, notifyBelowRemoved } from './post-notifications.ts';
import { nothingTouched, postsTouched, rejudgeAfterCommit, replayedPostOps, type PostsTouched } from './cross-repo.ts';
import { isRowPlugin, PLUGINS, type IndexedRecord, type Plugin, type RecordFamily, type RowPlugin } from './plugins/index.ts';
import type { AfterWrites, Removal } from './plugins/types.ts';
import { POST_COLLECTION, postPlugin } from './plugins/post.ts';

export interface IndexPorts extends IdentityPassPorts {
  sql: Sql;
}

interface Tally {
  indexed: number;
  stale: number;
  tombstoned: number;
  invalid: number;
}

/**
 * What became of a record event, from the rows the batch's statements returned: `inserted`, a write where the index
 * held no live record; `replaced`, a write over an older one; `deleted`, a delete that won; `stale`, nothing written
 * because the index holds the record (or its deletion) at the same rev or newer, an op of the batch superseded it, or
 * the repo's last verified snapshot is newer; `skipped`, not counted for its account (inactive at the write's time,
 * or deleted); `invalid`, a write its lexicon refuses.
 */
export type RecordFate = 'inserted' | 'replaced' | 'deleted' | 'stale' | 'skipped' | 'invalid';

export interface IndexResult extends BatchResult {
  /** Per position of the batch: the fate of each record event; undefined for other events and dead ones. */
  fates: (RecordFate | undefined)[];
}

/** What the transaction decided, for metrics and follow-ups once it committed. */
interface Applied {
  tallies: Map<RecordFamily, Tally>;
  /** Positions of events that did not count because of their account (inactive, deleted) or an older snapshot. */
  skipped: Set<number>;
  /** Positions of events superseded in the batch, or account changes older than one already applied. */
  stale: Set<number>;
  resync: ResyncRequest[];
  /** Posts written or deleted: re-judged after the commit (cross-repo.ts). */
  posts: PostsTouched;
  /** Writes whose record fails its lexicon (counted, its commit seen, nothing indexed). */
  invalid: RecordOp[];
  fates: Map<number, RecordFate>;
}

export async function indexBatch(events: readonly StreamEvent[], ports: IndexPorts): Promise<IndexResult> {
  const plan = planBatch(events);
  const identities = await verifyIdentities(plan.identities, ports);
  let applied: Applied;
  try {
    applied = await ports.sql.transaction((tx) => applyBatch(tx, plan, identities));
    if (!nothingTouched(applied.posts)) await ports.sql.transaction((tx) => rejudgeAfterCommit(tx, applied.posts));
  } catch (err) {
    ports.metrics.inc('skytide_index_batches_total', { outcome: 'error' });
    throw err;
  }

  ports.metrics.inc('skytide_index_batches_total', { outcome: 'ok' });
  if (applied.skipped.size > 0) ports.log.debug('events of inactive or deleted accounts skipped', { count: applied.skipped.size });
  if (applied.invalid.length > 0) {
    ports.log.info('records their lexicon or the AppView refuses were not indexed', {
      count: applied.invalid.length,
      records: applied.invalid.slice(0, 5).map((op) => ({ uri: op.uri, problem: op.problem })),
    });
  }
  const invalid = new Set(applied.invalid.map((op) => op.position));
  for (const [family, t] of applied.tallies) {
    for (const outcome of ['indexed', 'stale', 'tombstoned', 'invalid'] as const) {
      if (t[outcome] > 0) ports.metrics.inc('skytide_index_records_total', { collection: family, outcome }, t[outcome]);
    }
  }
  events.forEach((event, i) => {
    const outcome = plan.outcomes[i]?.status === 'dead' ? 'dead'
      : applied.skipped.has(i) ? 'skipped'
      : applied.stale.has(i) || applied.fates.get(i) === 'stale' ? 'stale' // superseded in its batch, or refused by the rev rule
      : invalid.has(i) ? 'invalid'
      : 'ok';
    ports.metrics.inc('skytide_index_events_total', { type: event.type, outcome });
  });
  return { outcomes: plan.outcomes, resync: applied.resync, fates: events.map((_, i) => applied.fates.get(i)) };
}

async function applyBatch(tx: SqlExecutor, plan: BatchPlan, identities: IdentityPass): Promise<Applied> {
  const { snapshot, xid } = await holdIndexLockForBatch(tx);
  // #identity DIDs too: a backfill checks live_handle and stores its handle under the same lock (backfill-repo/account.ts).
  await lockAccounts(tx, [...plan.accounts.keys(), ...plan.identities.keys()]);
  const facts = await readAccountFacts(tx, [...plan.actors.keys()]);
  const factsOf = (did: string): AccountFacts => facts.get(did) ?? NO_FACTS;
  const skipped = new Set<number>();
  const stale = new Set<number>();
  const resync: ResyncRequest[] = [];

  // #account changes, per DID in stream order, under the time rule. `applied` keeps where each one sat in the batch:
  // a write is judged by the changes before it in the stream, as if the batch were applied one event at a time.
  const histories = new Map<string, AccountChange[]>();
  const applied = new Map<string, { position: number; change: AccountChange }[]>();
  const statuses = new Map<string, string | null>();
  const marks = new Map<string, ResyncMark>();
  for (const [did, ops] of plan.accounts) {
    const f = factsOf(did);
    const history = [...f.history];
    const mine: { position: number; change: AccountChange }[] = [];
    /** The seq of the last change applied: the current one (applyChange only adds newer ones). */
    let currentSeq = 0;
    /** The stored request, when its very event comes again (the batch retried after its commit, or redelivered). */
    let askedBefore: AccountResyncReason | undefined;
    for (const op of ops) {
      const e = op.event;
      const change = { time: op.time, active: e.active, status: e.active ? null : cleanText(e.status ?? 'inactive') };
      const outcome = applyChange(history, change);
      if (outcome === 'stale') stale.add(op.position);
      else if (outcome === 'applied') {
        mine.push({ position: op.position, change });
        currentSeq = e.seq;
      } else if (f.resync !== null && e.seq === f.resync.seq) askedBefore = f.resync.reason;
    }
    if (mine.length === 0) {
      // It asks again: the request may have been lost between that commit and the queue (migration 0010).
      if (askedBefore !== undefined && !(askedBefore === 'account_deleted' && f.deleted)) resync.push({ did, reason: askedBefore });
      continue;
    }
    histories.set(did, history);
    applied.set(did, mine);
    const current = currentChange(history) as AccountChange;
    const upstream = appviewUpstreamStatus(history);
    if (!f.deleted && upstream !== undefined) statuses.set(did, upstream);
    // A deletion is confirmed by the PDS (getRepo answers RepoNotFound) in the resync, which then removes the rows;
    // an account that comes back may have written while it was away, or be a deleted one that moved. Both are
    // fetched whole.
    const reason = current.active ? 'account_active' : current.status === 'deleted' && !f.deleted ? 'account_deleted' : undefined;
    if (reason === undefined) continue;
    resync.push({ did, reason });
    marks.set(did, { seq: currentSeq, reason });
  }

  // The record events that count: not of a deleted account and, for writes, not older than the last verified
  // snapshot and of an account active at the write's time. A delete older than the snapshot still goes through the
  // rev rule: every record the snapshot holds was written at its rev (or a newer one), which the delete loses to, so
  // it can only remove a row the snapshot does not hold: a write the live path indexed while the backfill ran, after
  // the backfill read the rows it tombstones (backfill-repo/handler.ts), whose delete would otherwise never count.
  const counted: RecordOp[] = [];
  const invalid: RecordOp[] = [];
  /**
   * Ops older than the snapshot whose record type does more than write its row (pastVersions): writes, which write no
   * row, and deletes, which go through the rev rule too.
   */
  const past: RecordOp[] = [];
  const fates = new Map<number, RecordFate>();
  const activeThen = (op: RecordOp): boolean => {
    const history = historyBefore(factsOf(op.event.did).history, applied.get(op.event.did), op.position);
    return alwaysActive(history) || activeAt(history, normalizeTime(op.event.time));
  };
  for (const op of plan.records) {
    const e = op.event;
    const f = factsOf(e.did);
    if (f.deleted || (e.type !== 'delete' && f.floor !== null && e.rev < f.floor)) {
      skipped.add(op.position);
      fates.set(op.position, f.deleted ? 'skipped' : 'stale');
      // The snapshot holds each record's last version only; a gate's earlier ones decided the replies and quotes made
      // while they held, and a post's edit took the quotes of the version before: one event at a time did both.
      if (!f.deleted && op.problem === undefined && keepsPastVersions(e.collection) && activeThen(op)) past.push(op);
      continue;
    }
    if (e.type !== 'delete' && !activeThen(op)) {
      skipped.add(op.position);
      fates.set(op.position, 'skipped');
      continue;
    }
    // A delete older than the snapshot goes through the rev rule (below), and is a past version too.
    if (e.type === 'delete' && f.floor !== null && e.rev < f.floor && op.problem === undefined && keepsPastVersions(e.collection)) past.push(op);
    // A write its lexicon refuses is not indexed and changes nothing already indexed (the AppView's rule), but its
    // commit was still seen.
    if (op.problem !== undefined) {
      invalid.push(op);
      fates.set(op.position, 'invalid');
      continue;
    }
    counted.push(op);
  }
  const { winners, superseded } = pickWinners(counted);
  for (const position of superseded) {
    stale.add(position);
    fates.set(position, 'stale');
  }
  const repos = plan.repos.filter((r) => {
    if (!factsOf(r.event.did).deleted) return true;
    skipped.add(r.position);
    return false;
  });

  const { tallies, deltas, posts, changed, inserted } = await writeRecords(tx, winners, counted, invalid, past);
  for (const { uri, event, position } of winners) {
    fates.set(position, !changed.has(uri) ? 'stale' : event.type === 'delete' ? 'deleted' : inserted.has(uri) ? 'inserted' : 'replaced');
  }
  await writeAccountStates(tx, histories, marks);

  const handles: HandleChange[] = [];
  for (const [did, { position, event }] of plan.identities) {
    if (factsOf(did).deleted) {
      skipped.add(position);
      continue;
    }
    const verdict = identities.verdicts.get(did);
    if (verdict !== undefined) handles.push({ did, handle: verdict, seq: event.seq });
    const claim = identities.claims.get(did);
    if (verdict === undefined && claim !== undefined) handles.push({ did, handle: claim, seq: event.seq, unverifiedClaim: true });
  }
  if (identities.asIs) {
    for (const { event } of plan.earlierIdentities) {
      if (!factsOf(event.did).deleted) handles.push({ did: event.did, handle: event.handle ?? null, seq: event.seq, earlier: true });
    }
  }
  for (const did of identities.unverified) if (!factsOf(did).deleted) resync.push({ did, reason: 'handle_unverified' });

  const actors = new Map([...plan.actors].filter(([did]) => !factsOf(did).deleted));
  const commits = newestCommits([...counted.map((op) => op.event), ...invalid.map((op) => op.event), ...repos.map((r) => r.event)]);
  await writeActors(tx, { actors, handles, statuses, commits }, deltas);
  return { tallies, skipped, stale, resync, posts: { ...posts, snapshot, xid }, invalid, fates };
}

/**
 * The account changes in force at a position of the batch: those stored, then this batch's up to that position, of
 * which only the latest HISTORY_LIMIT are kept, as if they had been applied and stored one batch at a time (else
 * where the batch is cut would decide whether a change that has dropped out still judges a late write).
 */
function historyBefore(stored: readonly AccountChange[], batch: readonly { position: number; change: AccountChange }[] | undefined, position: number): readonly AccountChange[] {
  if (batch === undefined) return stored;
  const before = batch.filter((c) => c.position < position);
  return before.length === 0 ? stored : keptChanges([...stored, ...before.map((c) => c.change)]);
}

/** Whether the collection's plugin keeps the versions a snapshot does not hold (plugins/types.ts, `pastVersions`). */
function keepsPastVersions(collection: string): boolean {
  const plugin = PLUGINS.get(collection);
  return plugin !== undefined && !isRowPlugin(plugin) && plugin.pastVersions !== undefined;
}

/** The rev gate, then the typed rows of every record it let through, and their counts (applied by the caller). */
async function writeRecords(
  tx: SqlExecutor, winners: readonly RecordOp[], counted: readonly RecordOp[], refused: readonly RecordOp[], past: readonly RecordOp[],
): Promise<{ tallies: Map<RecordFamily, Tally>; deltas: AggregateDeltas; posts: PostsTouched; changed: ReadonlySet<string>; inserted: ReadonlySet<string> }> {
  const tallies = new Map<RecordFamily, Tally>();
  const tally = (family: RecordFamily) => {
    let t = tallies.get(family);
    if (t === undefined) tallies.set(family, (t = { indexed: 0, stale: 0, tombstoned: 0, invalid: 0 }));
    return t;
  };
  for (const op of refused) tally(PLUGINS.get(op.event.collection)?.family ?? 'other').invalid++;
  // The plugins that see every version are told what each of their records was before the batch.
  const versioned = counted.filter((op) => {
    const plugin = PLUGINS.get(op.event.collection);
    return plugin !== undefined && !isRowPlugin(plugin) && plugin.versions !== undefined;
  });
  // And the ops of the records they relate theirs to (a gate's post), read before the rev gate writes `record`.
  const relatedUris = new Set(versioned.flatMap((op) => {
    const plugin = PLUGINS.get(op.event.collection) as Plugin;
    return plugin.relatedUri?.(op.uri) ?? [];
  }));
  const related = counted.filter((op) => relatedUris.has(op.uri));
  // And the records whose notification an update keeps that hold several ops here (kept-notifications.ts), and the
  // posts whose fate depends on the batch's order (post-fates.ts), in the same read.
  const chained = chainedOps(counted, winners.length);
  // And the records a smaller one of their subject may hand it over to within the batch (chained too, to be replayed),
  // with the smaller ones that leave (usually none of either).
  const handOver = handOverCandidates(counted, winners, chained);
  for (const [uri, ops] of handOver.records) if (!chained.has(uri)) chained.set(uri, ops);
  const ordered = postsNeedingHistory(counted);
  // And the follows and list items a reply's gate may be judged by at its place in the batch (memberships-at.ts).
  const memberships = membershipOps(counted);
  const before = await readStoredOps(tx, [...new Set([...versioned, ...related].map((op) => op.uri).concat([...chained.keys()], [...ordered], membershipsBefore(memberships), [...handOver.others]))]);
  const handOvers = leavesOf(counted, handOver.others, before);
  const deltas = new AggregateDeltas();
  // Row plugins' rows are written here, with the rev gate (none of them is read by a statement plugin's verdicts).
  const { changed, inserted, invalid: rowInvalid, typed, notifiedBy } = await writeRecordRows(tx, winners, deltas, { chained, before, handOvers });
  // Statement plugins (plugins/types.ts) write their own rows, after the row plugins' statements.
  const removals = new Map<Plugin, string[]>();
  const inserts = new Map<Plugin, IndexedRecord[]>();
  const keeps: KeptNotifications = { kept: new Set(), first: new Map() };
  const fates = postFates(ordered, counted, before);
  /** Posts written over a record that may hold the same CID (post plugin: then no removal). */
  const sameCid = new Map<string, string>();
  /** Posts written again at the CID they hold, by a later rev (a resync, a backfill): no edit, kept whole. */
  const keptWhole = new Set<string>();
  /** What each post's removal takes of the quote rows naming it (plugins/types.ts, `Removal`). */
  const cascade = new Map<string, Removal>(fates.removals);
  for (const winner of winners) {
    const { uri, event, position } = winner;
    const plugin = PLUGINS.get(event.collection);
    const t = tally(plugin?.family ?? 'other');
    if (!changed.has(uri)) {
      t.stale++;
      continue;
    }
    if (event.type === 'delete') t.tombstoned++;
    else t.indexed++;
    if (plugin === undefined || isRowPlugin(plugin)) continue;
    const record = event.type === 'delete' ? undefined
      : { uri, cid: event.cid, did: event.did, collection: event.collection, rkey: event.rkey, record: event.record, indexedAt: event.time, position, ...(event.madeAt === undefined ? {} : { madeAt: event.madeAt }) };
    if (ordered.has(uri)) {
      // A post whose ops in the batch were replayed one at a time (post-fates.ts).
      if (fates.removals.has(uri)) push(removals, plugin, uri);
      if (record !== undefined && fates.written.has(uri)) {
        push(inserts, plugin, { ...record, indexedAt: fates.bornAt.get(uri) ?? record.indexedAt, position: fates.bornPosition.get(uri) ?? position });
      }
      if (fates.keptWhole.has(uri)) keptWhole.add(uri);
      continue;
    }
    // An update or delete purges the old typed rows; a record that had no row has none to purge. A post's delete
    // removes the quotes naming it even then (the AppView's deleteFn), and a post written over a record row may be the
    // same CID again (the plugin keeps it whole then).
    const isPost = event.collection === POST_COLLECTION;
    if (!inserted.has(uri) || (isPost && record === undefined)) {
      push(removals, plugin, uri);
      if (isPost) cascade.set(uri, record === undefined ? { time: event.time } : { time: event.time, cid: record.cid });
    }
    if (isPost && record !== undefined && !inserted.has(uri)) sameCid.set(uri, record.cid);
    // Only an update, or a record written more than once here, can keep a notification (kept-notifications.ts).
    if (plugin.notifiedSubject !== undefined && (!inserted.has(uri) || chained.has(uri))) {
      noteKept(keeps, plugin.notifiedSubject, winner, !inserted.has(uri), chained, before, handOvers);
    }
    if (record !== undefined) push(inserts, plugin, record);
  }
  // Of those, only the records whose row before the batch named the same subject keep their notifications (read
  // before the removals below take those rows).
  if (keeps.kept.size > 0) keeps.kept = await sameSubjects(tx, winners.filter((w) => keeps.kept.has(w.uri)));
  const statementPlugins = [...PLUGINS.values()].filter((p): p is Plugin => !isRowPlugin(p));
  // Statement plugins run in PLUGINS order (what a reply is judged by is written before it); those that keep every
  // version see all the batch's ops of their collection first, superseded ones included.
  const afterWrites: AfterWrites[] = [];
  for (const plugin of statementPlugins) {
    const ops = plugin.pastVersions === undefined ? [] : past.filter((op) => op.event.collection === plugin.collection);
    if (ops.length > 0) await plugin.pastVersions?.(tx, ops, deltas);
  }
  for (const plugin of statementPlugins) {
    if (plugin.versions === undefined) continue;
    const ops = versioned.filter((op) => op.event.collection === plugin.collection);
    if (ops.length === 0) continue;
    const uris = new Set(ops.flatMap((op) => plugin.relatedUri?.(op.uri) ?? []));
    const then = await plugin.versions(tx, ops, deltas, before, related.filter((op) => uris.has(op.uri)), { ops: memberships, before, gates: versioned });
    if (typeof then === 'function') afterWrites.push(then);
  }
  // The posts removed here, for the ancestors a reply written before their removal had (post-notifications.ts).
  const gone = new Map<string, string | null>();
  for (const plugin of statementPlugins) {
    const uris = removals.get(plugin);
    if (uris !== undefined) await plugin.remove(tx, uris, deltas, { sameCid, cascade, kept: keeps.kept, gone, keptWhole });
  }
  // Only a post the batch deletes or rewrites can be missing at its end, or reply elsewhere, yet have been there, with
  // another parent, at a reply's place: those whose row the batch removed, deleted, or replayed with more than one op.
  const changedPosts = new Set([
    ...gone.keys(), ...fates.removals.keys(),
    ...counted.filter((op) => op.event.type === 'delete' && op.event.collection === POST_COLLECTION).map((op) => op.uri),
  ]);
  // With them, every post op of the batch the rev rule applies: where each post a reply's chain meets came and went
  // (post-notifications.ts). A post's ops delivered again after they committed are none of them: it was not made and
  // removed here, and no reply below it meets it (`before` holds every post with more than one op).
  const postOps = changedPosts.size === 0 ? [] : appliedOps(counted.filter((op) => op.event.collection === POST_COLLECTION), before);
  const gonePosts = { gone, changed: changedPosts, inserted, ops: postOps, made: madeAndRemoved(postOps) };
  const invalid = new Map<RowPlugin | Plugin, string[]>(rowInvalid);
  for (const plugin of statementPlugins) {
    const records = inserts.get(plugin);
    if (records !== undefined) invalid.set(plugin, await plugin.insert(tx, records, deltas, { versioned, before, ...keeps, cutQuotes: fates.cut, memberships, gonePosts }));
  }
  // Replies stored below a post the batch made and removed notified its author while it was there: the post plugin
  // walks them with the posts it inserts, or here when it has none.
  if (!inserts.has(postPlugin)) await notifyBelowRemoved(tx, gonePosts);
  for (const then of afterWrites) await then(tx);
  // One row per subject (duplicates.ts), once every plugin has written.
  // A record that takes its subject's rows there notifies with the version that notified one event at a time.
  await settleDuplicates(tx, winners, { changed, fresh: inserted, typed }, deltas,
    notifiedBy.size + keeps.first.size === 0 ? undefined : new Map([...notifiedBy, ...keeps.first]));
  for (const [plugin, uris] of invalid) {
    const t = tally(plugin.family);
    t.invalid += uris.length;
    t.indexed -= uris.length;
  }
  // Posts and gates this batch already applied before are judged again after commit too (cross-repo.ts).
  const replayed = await replayedPostOps(tx, winners, changed);
  // The deltas are applied with the actor rows, in one statement at the end of the batch.
  // When a post written over a record lost its version before, where its batch knows better than the post row's
  // time: its ops replayed in order (post-fates.ts), or, for a replay, the batch's last delete of it.
  const removedAt = new Map([...fates.removals].map(([uri, r]) => [uri, r.time]));
  // (`counted` is in stream order: the last delete set wins.)
  for (const { uri, event } of counted) if (event.type === 'delete' && replayed.has(uri)) removedAt.set(uri, event.time);
  // Replayed exactly (the batch delivered again): their version's first write may have been an edit whose after-commit
  // purge never ran, so it runs again (cross-repo.ts). Written again at the CID held by a later op (kept whole: a
  // resync, a backfill): no edit at all, so nothing to purge.
  // A backfill's write is never such a replay: a live batch delivered again redoes its own purge, and the same record
  // at the same rev is, for a backfill, a CAR cut at the commit that wrote it (a post made there removed nothing).
  const rewritten = new Set<string>();
  for (const { uri, event } of winners) {
    if (!replayed.has(uri) || changed.has(uri)) continue;
    if (isBackfillSeq(event.seq)) keptWhole.add(uri);
    else rewritten.add(uri);
  }
  const posts = postsTouched(winners, replayed.size === 0 ? changed : new Set([...changed, ...replayed]), inserted, removedAt, rewritten, keptWhole, past);
  // A post deleted and written again here: after commit its delete takes the older quotes a batch in flight beside
  // this one wrote, as a delete's own would (cross-repo.ts).
  for (const [uri, r] of fates.removals) {
    if (r.deletedAt === undefined || !changed.has(uri)) continue;
    posts.removed.push(uri);
    posts.removedAt.push(r.deletedAt);
  }
  return { tallies, deltas, posts, changed, inserted };
}
