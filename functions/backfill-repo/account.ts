// What a backfill learns about the account itself, beside its records (issue 8, items 6, 7 and 8). What it promises:
// - A PDS's answer is an observation of the account at the time it was asked (`askedAt`: just before getRepo was
//   sent, never after the download), applied under the same rule as an #account event (account-store.ts): a repo
//   served means active, RepoTakendown / RepoSuspended / RepoDeactivated their status. So an #account the live path
//   indexed while the repo downloaded (a deactivation after the PDS served it) is newer than the answer and stands.
//   RepoNotFound, once the caller has asked the DID document again (the account may have moved), confirms a
//   deletion: every row of the DID goes (account-deletion.ts), unless the account's current change is a reactivation
//   later than `askedAt` (indexed live while the PDS answered: it stands, with the writes after it, and the resync it
//   queued asks again), as for a tombstone below.
// - A did:plc the PLC directory answers tombstoned (410, asked at `askedAt`) confirms it too, whatever status is
//   stored (the directory says the DID is gone for good: no PDS can serve it a repo again, and an #account deleted may
//   never have reached us), unless the account's current change is a reactivation later than the answer: that event
//   stands, and the resync it queued asks again. A 404 (no such DID) confirms nothing: the directory may just not
//   know it, and the backfill fails as any identity_failed does. Like RepoNotFound, a repo served later undoes it.
// - A repo served for a DID whose deletion was confirmed undoes it: the marker is lifted and the subjects' counts are
//   recounted from the rows before the repo is indexed (and the caller fetches it once more: live writes made while
//   it downloaded were skipped, the marker still standing).
// - The handle is verified both ways, as #identity does, and stored; an answer that is not definite keeps the stored
//   handle. An outage (DependencyError) is let through, so the caller waits it out and the handle is verified then.
// - A handle never overwrites one the live path stored from an #identity after the backfill's DID document was
//   fetched (that #identity may have verified a newer document): the caller takes a DocumentTick just before it
//   fetches the document, and the handle is stored only if live_handle holds no later tick (migration 0013). This
//   costs one statement, where asking the document again before storing cost a fetch per repo.
import type { BasePorts, Sql } from '../ports.ts';
import { DidTombstonedError, type AtprotoIdentity, type IdentityResolver } from '../atproto/identity/did-document.ts';
import { verifiedHandle, type HandleResolver } from '../atproto/identity/handle.ts';
import { dependencyErrorIn, describeError, InvariantError, SkytideError } from '../errors.ts';
import { checkFirstRow } from '../sql-rows.ts';
import { observeAccount, holdIndexLock, lockAccounts, syncStatus } from '../index/account-store.ts';
import { purgeAccount, restoreAccount, type DeletionProof } from '../index/account-deletion.ts';
import { setHandles } from '../index/actors.ts';
import type { PermanentRepoError } from './fetch-car.ts';

export interface AccountPorts extends BasePorts {
  sql: Sql;
  identity: IdentityResolver;
  /** Verifies handles both ways; without it a backfill leaves handles as they are. */
  handles?: HandleResolver;
}

const nowIso = (ports: BasePorts) => new Date(ports.clock.now()).toISOString();

/** A value of handle_clock (as text: a bigint), taken just before a DID document is fetched. */
export type DocumentTick = string & { readonly __brand: 'DocumentTick' };

/**
 * To be taken BEFORE fetching the DID document whose handle a backfill will store, and that document fetched afresh
 * (not from a cache, whose copy may be older than the tick).
 */
export async function documentTick(sql: Sql): Promise<DocumentTick> {
  const row = checkFirstRow(await sql.query(`select nextval('handle_clock')::text as tick`), { tick: 'string' });
  if (row === undefined) throw new InvariantError('nextval returned no row');
  return row.tick as DocumentTick;
}

/**
 * The DID document asked again after a PDS said the repo is not there. A document that cannot be had (PLC 404, an
 * unusable one) changes nothing: `known` stands. An outage is let through, and so is a tombstone (DidTombstonedError),
 * which the caller takes for a confirmed deletion.
 */
export async function refreshedIdentity(did: string, known: AtprotoIdentity, ports: AccountPorts): Promise<AtprotoIdentity> {
  try {
    return await ports.identity.resolve(did, { forceRefresh: true });
  } catch (err) {
    if (dependencyErrorIn(err) !== undefined || !(err instanceof SkytideError) || err instanceof DidTombstonedError) throw err;
    ports.log.info('did document not refreshed, answer stands', { did, err: describeError(err) });
    return known;
  }
}

/**
 * RepoNotFound (confirmed) purges the account and returns how many records it had; the others set its status. All as
 * of `askedAt` (ms: when getRepo was sent). Undefined when nothing was purged: another answer, or a reactivation
 * later than `askedAt` stands (deleted).
 */
export async function repoUnavailable(did: string, error: PermanentRepoError, identity: AtprotoIdentity, tick: DocumentTick, askedAt: number, ports: AccountPorts): Promise<number | undefined> {
  const time = new Date(askedAt).toISOString();
  if (error === 'RepoNotFound') return deleted(did, 'RepoNotFound', time, ports);
  await observeAccount(ports.sql, did, { time, active: false, status: error.slice('Repo'.length).toLowerCase() }, time);
  await refreshHandle(identity, tick, ports);
  return undefined;
}

/**
 * The PLC directory answered the DID tombstoned at `askedAt` (ms: when it was asked): the account is purged, as for
 * RepoNotFound, and how many records it had is returned; undefined when a reactivation later than the answer stands.
 */
export async function didTombstoned(did: string, askedAt: number, ports: AccountPorts): Promise<number | undefined> {
  return deleted(did, 'DidTombstoned', new Date(askedAt).toISOString(), ports);
}

/**
 * An answer that confirms a deletion, asked for at `time`: the account is purged (how many records it had), unless a
 * reactivation later than `time` stands (undefined, nothing changed: the resync it queued asks again).
 */
async function deleted(did: string, proof: DeletionProof, time: string, ports: AccountPorts): Promise<number | undefined> {
  const records = await purgeAccount(ports.sql, did, time, proof);
  if (records === undefined) ports.log.info('account not purged: reactivated after the answer was asked for', { did, proof });
  else ports.log.info('deleted account purged', { did, proof, records });
  return records;
}

/**
 * Its PDS serves a valid repo: the account was active at `askedAt` (ms: when getRepo was sent; restored if it was
 * deleted: true), with its handle verified (unless an #identity stored one after `tick`: see refreshHandle); or, when
 * the relay listed it inactive (`listed`: its own takedown, which the PDS knows nothing of), in that state at
 * `askedAt`.
 */
export async function repoServed(identity: AtprotoIdentity, tick: DocumentTick, askedAt: number, ports: AccountPorts, listed?: { active: false; status: string }): Promise<boolean> {
  const time = new Date(askedAt).toISOString();
  const restored = await restoreAccount(ports.sql, identity.did, time);
  if (restored) ports.log.info('deleted account restored', { did: identity.did });
  await observeAccount(ports.sql, identity.did, listed === undefined ? { time, active: true, status: null } : { time, ...listed }, time);
  await refreshHandle(identity, tick, ports);
  return restored;
}

/** The identity-only pass a `handle_unverified` follow-up asks for: a fresh DID document and its handle, nothing else. */
export async function recheckHandle(did: string, ports: AccountPorts): Promise<void> {
  let identity: AtprotoIdentity;
  const tick = await documentTick(ports.sql);
  try {
    identity = await ports.identity.resolve(did, { forceRefresh: true });
  } catch (err) {
    if (dependencyErrorIn(err) !== undefined || !(err instanceof SkytideError)) throw err;
    ports.log.warn('identity not resolved, handle kept', { did, err: describeError(err) });
    return;
  }
  await refreshHandle(identity, tick, ports);
}

/**
 * Verifies the identity's handle and stores the answer when it is definite, unless the live path stored the DID's
 * handle from an #identity after `tick` (taken before `identity`'s document was fetched): the document that #identity
 * was verified with may be newer than this one. Outages are let through.
 */
export async function refreshHandle(identity: AtprotoIdentity, tick: DocumentTick, ports: AccountPorts): Promise<void> {
  if (ports.handles === undefined) return;
  let handle: string | undefined;
  let unverified = false;
  try {
    handle = await verifiedHandle(identity, ports.handles);
  } catch (err) {
    if (dependencyErrorIn(err) !== undefined) throw err;
    // Could not find out: the stored handle stays if the document still claims it, else it goes (no longer claimed).
    ports.log.warn('handle not verified, kept if still claimed', { did: identity.did, err: describeError(err) });
    unverified = true;
  }
  const time = nowIso(ports);
  await ports.sql.transaction(async (tx) => {
    await holdIndexLock(tx, 'shared');
    // The index holds this lock while it stores an #identity's handle and its tick: the check below sees a batch
    // either committed or not begun, never one between its tick and its handle.
    await lockAccounts(tx, [identity.did]);
    if ((await syncStatus(tx, identity.did)) === 'deleted') return;
    const newer = await tx.query(`select 1 from live_handle where did = $1 and tick > $2::bigint`, [identity.did, tick]);
    if (newer.length > 0) {
      ports.log.debug('handle stored by an #identity after the document was fetched, kept', { did: identity.did });
      return;
    }
    await tx.query(`insert into actor (did, "indexedAt") values ($1, $2) on conflict (did) do nothing`, [identity.did, time]);
    await setHandles(tx, [unverified ? { did: identity.did, handle: identity.claimedHandle ?? null, seq: 0, unverifiedClaim: true } : { did: identity.did, handle: handle ?? null, seq: 0 }]);
  });
}
