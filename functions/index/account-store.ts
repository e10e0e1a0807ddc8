// The SQL side of the account rule: skytide's own account_state (the #account changes applied per DID) and the facts
// repo_sync holds about a repo (a confirmed deletion, the rev of the last verified snapshot), read once per batch.
//
// Locks, always taken in this order so that nothing can deadlock:
// 1. INDEX_LOCK, a transaction-level advisory lock: every index transaction holds it shared; confirming or undoing an
//    account deletion holds it exclusively for a few statements. That makes "is this subject's account deleted?" and
//    "apply this count" one atomic step against a deletion or a recount (see account-deletion.ts).
// 2. One advisory lock per DID whose account_state the transaction changes, or whose handle an #identity event sets,
//    in hash order: two batches that both carry #account events of a DID apply them one after the other, never over
//    each other, and a backfill's handle check and write (backfill-repo/account.ts) come wholly before or after a
//    batch's #identity.
// 3. Row locks in the batch's own order (record by uri, then typed rows, aggregates, actor).
import type { SqlExecutor } from '../ports.ts';
import { insertRows } from './rows.ts';
import { applyChange, appviewUpstreamStatus, currentChange, parseHistory, type AccountChange, type ApplyOutcome } from './account-state.ts';
import { checkFirstRow, checkRows } from '../sql-rows.ts';
import { InvariantError } from '../errors.ts';
import type { Reason } from '../reasons.ts';

const INDEX_LOCK = 7_323_052; // arbitrary, constant: "skytide index" (7_323_051 is the migrations lock, 7_323_054 cross-repo.ts's)
const ACCOUNT_LOCK_CLASS = 7_323_053; // first key of the two-key per-DID locks

/** The DID's repo_sync status ('deleted' marks a confirmed deletion), or undefined when it has no row. */
export async function syncStatus(tx: SqlExecutor, did: string): Promise<string | undefined> {
  return checkFirstRow(await tx.query(`select status from repo_sync where did = $1`, [did]), { status: 'string' })?.status;
}

/**
 * The first statement of every transaction that writes the index: the index lock, and JIT compilation off until the
 * transaction ends (`set_config(..., true)` is SET LOCAL, in the same round trip). With Postgres's default `jit = on`,
 * a statement whose estimated cost passes `jit_above_cost` is compiled on every execution (a prepared statement's
 * compiled code is not kept): the reply-chain walk was, on 73 of 73 calls in the bench, 107 of its 264 ms; its
 * estimate grows with the post table, and past `jit_optimize_above_cost` the compiling costs more. The index's
 * statements touch a few thousand rows by key, where compiling never pays. A transaction setting, not a connection
 * one, so a pooler that refuses unknown start-up parameters (PgBouncer) is not a concern and the operator's other
 * clients keep their setting. Answers the transaction's snapshot as it began (`pg_current_snapshot()`, in the same
 * statement): what committed after it ran beside the batch (cross-repo.ts reads it for quotes of edited posts).
 */
export async function holdIndexLock(tx: SqlExecutor, mode: 'shared' | 'exclusive'): Promise<string> {
  return (await lockIndex(tx, mode, false)).snapshot;
}

/**
 * holdIndexLock (shared) for a batch, with the batch's own transaction ID (`pg_current_xact_id()`, assigned here: a
 * batch writes anyway): the rows it writes are its own, not a transaction in flight beside it, though its snapshot as
 * it began cannot see them (cross-repo.ts, gates.ts).
 */
export function holdIndexLockForBatch(tx: SqlExecutor): Promise<{ snapshot: string; xid: string }> {
  return lockIndex(tx, 'shared', true);
}

async function lockIndex(tx: SqlExecutor, mode: 'shared' | 'exclusive', withXid: boolean): Promise<{ snapshot: string; xid: string }> {
  const lock = mode === 'shared' ? 'pg_advisory_xact_lock_shared($1)' : 'pg_advisory_xact_lock($1)';
  const xid = withXid ? `pg_current_xact_id()::text` : `''`;
  const [row] = checkRows(
    await tx.query(`select ${lock}, set_config('jit', 'off', true), pg_current_snapshot()::text as snapshot, ${xid} as xid`, [INDEX_LOCK]),
    { snapshot: 'string', xid: 'string' },
  );
  return { snapshot: row?.snapshot ?? '', xid: row?.xid ?? '' };
}

/** Serialises changes to these DIDs' account_state and #identity handles until the transaction ends. */
export async function lockAccounts(tx: SqlExecutor, dids: readonly string[]): Promise<void> {
  if (dids.length === 0) return;
  await tx.query(
    `select count(pg_advisory_xact_lock(${ACCOUNT_LOCK_CLASS}, k)) from
       (select distinct hashtext(d) as k from unnest($1::text[]) as x(d) order by k) as s`,
    [dids],
  );
}

/** What the index must know about a DID before it applies any of its events. */
export interface AccountFacts {
  /** The changes applied so far, oldest first (empty: never told anything, so active). */
  history: AccountChange[];
  /** repo_sync.status = 'deleted': a confirmed deletion that only a later valid repo undoes. */
  deleted: boolean;
  /** repo_sync.rev: the last verified snapshot of the repo holds every commit up to this rev. */
  floor: string | null;
  /** The resync the current change asked for, and the seq of its event (migration 0010). */
  resync: ResyncMark | null;
}

/** A resync an applied #account change asked for, kept with the seq of the event that asked. */
export interface ResyncMark {
  seq: number;
  reason: AccountResyncReason;
}

/** The resync reasons an #account change asks for, drawn from the closed set in functions/reasons.ts. */
const ACCOUNT_RESYNC_REASONS = ['account_active', 'account_deleted'] as const satisfies readonly Reason[];
export type AccountResyncReason = (typeof ACCOUNT_RESYNC_REASONS)[number];
const isAccountResyncReason = (reason: string): reason is AccountResyncReason => (ACCOUNT_RESYNC_REASONS as readonly string[]).includes(reason);

export const NO_FACTS: AccountFacts = Object.freeze({ history: [], deleted: false, floor: null, resync: null }) as AccountFacts;

/** Facts of every DID that has any; a DID absent from the map has none (NO_FACTS). */
export async function readAccountFacts(tx: SqlExecutor, dids: readonly string[]): Promise<Map<string, AccountFacts>> {
  const facts = new Map<string, AccountFacts>();
  if (dids.length === 0) return facts;
  const rows = checkRows(await tx.query(
    `select x.did, a.history, r.status, r.rev, a."resyncSeq"::text as "resyncSeq", a."resyncReason"
     from unnest($1::text[]) as x(did)
     left join account_state a on a.did = x.did
     left join repo_sync r on r.did = x.did
     where a.did is not null or r.did is not null`,
    [dids],
  ), { did: 'string', history: 'json', status: 'string?', rev: 'string?', resyncSeq: 'string?', resyncReason: 'string?' });
  for (const row of rows) {
    facts.set(row.did, {
      history: row.history === null ? [] : parseHistory(row.history),
      deleted: row.status === 'deleted',
      floor: row.rev,
      resync: resyncMark(row.resyncSeq, row.resyncReason),
    });
  }
  return facts;
}

function resyncMark(seq: string | null, reason: string | null): ResyncMark | null {
  if (seq === null || reason === null) return null;
  if (!isAccountResyncReason(reason)) throw new InvariantError(`account_state."resyncReason" holds ${JSON.stringify(reason)}`);
  return { seq: Number(seq), reason };
}

const ACCOUNT_STATE = {
  did: 'text', active: 'boolean', status: 'text', changedAt: 'text', history: 'jsonb', resyncSeq: 'bigint', resyncReason: 'text',
} as const;

/**
 * Stores these DIDs' histories (each non-empty) as their account_state, with the resync each one's current change
 * asked for (none when `marks` has no entry for it).
 */
export async function writeAccountStates(
  tx: SqlExecutor, histories: ReadonlyMap<string, readonly AccountChange[]>, marks: ReadonlyMap<string, ResyncMark> = new Map(),
): Promise<void> {
  const rows = [];
  for (const [did, history] of histories) {
    const current = currentChange(history);
    if (current === undefined) continue;
    const mark = marks.get(did);
    rows.push({
      did, active: current.active, status: current.status, changedAt: current.time, history: history.map((c) => ({ ...c })),
      resyncSeq: mark?.seq ?? null, resyncReason: mark?.reason ?? null,
    });
  }
  await insertRows(tx, 'account_state', ACCOUNT_STATE, rows, {
    orderBy: 'did',
    onConflict: `(did) do update set active = excluded.active, status = excluded.status, "changedAt" = excluded."changedAt", history = excluded.history, ` +
      `"resyncSeq" = excluded."resyncSeq", "resyncReason" = excluded."resyncReason"`,
  });
}

/**
 * One change observed outside the stream (a backfill's answer from the PDS), applied under the same rule as an
 * #account event, in its own transaction. The actor row mirrors the new status unless the account is deleted.
 */
export async function observeAccount(
  sql: { transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> },
  did: string,
  change: AccountChange,
  firstSeen: string,
): Promise<ApplyOutcome> {
  return sql.transaction(async (tx) => {
    await holdIndexLock(tx, 'shared');
    await lockAccounts(tx, [did]);
    const facts = (await readAccountFacts(tx, [did])).get(did) ?? NO_FACTS;
    const history = [...facts.history];
    const outcome = applyChange(history, change);
    if (outcome !== 'applied') return outcome;
    await writeAccountStates(tx, new Map([[did, history]]));
    if (!facts.deleted) {
      await tx.query(`insert into actor (did, "indexedAt") values ($1, $2) on conflict (did) do nothing`, [did, firstSeen]);
      const upstream = appviewUpstreamStatus(history);
      if (upstream !== undefined) await tx.query(`update actor set "upstreamStatus" = $2 where did = $1 and "upstreamStatus" is distinct from $2`, [did, upstream]);
    }
    return outcome;
  });
}
