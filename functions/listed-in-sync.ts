// Whether what a listRepos page (or a repo_backfill entry made from one) says of a repo is what skytide already holds,
// so that fetching the repo again would change nothing. Both sweepers (long-runners/sweeper, the Worker's cron) and
// the backfill's "already synchronized" shortcut decide with this, so they never disagree.
//
// The rev alone is not enough: listRepos also gives the account's `active` and `status`, and a takedown, deactivation
// or reactivation changes no rev. If its #account event was missed (a firehose gap, an OutdatedCursor), only a
// listing that differs from the stored state can bring it back: the backfill then asks the PDS, whose answer is
// applied as an observation of the account (backfill-repo/account.ts).
//
// Nor is a rev held under a narrower collection filter than today's (INGESTER_COLLECTIONS widened since): the records
// of the collections it adds were never indexed, and only a fetch brings them.
import { keptAllOf, type EventFilter } from './event-filter.ts';

/** What a listing says of a repo. No `active` (older hosts list none): active. */
export interface ListedState {
  rev?: string;
  active?: boolean;
  /** A lexicon status (takendown, suspended, deactivated, ...), meaningful only when not active. */
  status?: string;
}

/** The account state skytide stores (account_state's current change; no row: active, status null). */
export interface HeldAccount {
  active: boolean;
  /** null when active; the lowercase status otherwise ('inactive' for an #account that gave none). */
  status: string | null;
}

/** A repo repo_sync holds, at `rev` when `synchronized`, with its account's stored state. */
export interface HeldRepo extends HeldAccount {
  rev: string | null;
  /** repo_sync.status is 'synchronized' (else desynchronized, deleted, in-progress: its rev says nothing). */
  synchronized: boolean;
  /** The collections it was synchronized under (event-filter.ts, collectionsKept); null or absent: every one. */
  collections?: string | null;
}

const RELAY_ONLY_STATUSES: ReadonlySet<string> = new Set(['desynchronized', 'throttled']);

/**
 * The listed account state is the stored one: both active, or both inactive with the same status. A listing that is
 * inactive without a status "makes no claim for why" (the lexicon), so any stored inactive status matches it, and so
 * does any stored state a relay-only status (desynchronized, throttled) is listed beside.
 */
export function sameAccountState(listed: ListedState, held: HeldAccount): boolean {
  const active = listed.active ?? true;
  // `desynchronized` and `throttled` describe the relay's copy, not the account: the PDS still serves the repo, so a
  // backfill would store it active again and every later sweep would fetch it once more, for nothing.
  if (!active && relayOnly(listed.status)) return true;
  if (active !== held.active) return false;
  if (active || listed.status === undefined) return true;
  // Stored statuses are lowercase (rsky wrote the Rust enum name, `Takendown`).
  return listed.status.toLowerCase() === held.status?.toLowerCase();
}

/**
 * A sweep skips a listed repo when fetching it could change nothing: repo_sync holds it synchronized at exactly the
 * listed rev, in the same account state; or it is listed inactive (for a reason of the account's, not the relay's copy)
 * and held inactive in the same state, whatever repo_sync says of its rev. Such an account's PDS refuses its repo
 * (RepoTakendown, RepoDeactivated, ...), or the repo is gone, or the relay took it down itself: a fetch would only ask
 * again, and each sweep asked again for every inactive account of the network (two directory lookups and a getRepo
 * each). Its reactivation, listed or sent as #account, brings it back. With `filter` (the collections kept now), a repo
 * synchronized under a narrower collection rule is not held.
 */
export function listedInSync(listed: ListedState, held: HeldRepo | undefined, o: { orNewer?: boolean; filter?: EventFilter } = {}): boolean {
  if (held === undefined || !sameAccountState(listed, held)) return false;
  if (inactiveAsHeld(listed, held)) return true;
  if (!held.synchronized || listed.rev === undefined || held.rev === null) return false;
  // Synchronized under a narrower collection filter than `filter` (widened since): what it adds was never fetched.
  if (o.filter !== undefined && !keptAllOf(held.collections ?? null, o.filter)) return false;
  // `orNewer` (the backfill's shortcut): a rev newer than the listed one is held too (TIDs sort as strings).
  return held.rev === listed.rev || (o.orNewer === true && held.rev > listed.rev);
}

/** Listed inactive for a reason of the account's (not a relay-only status), and held inactive in the same state. */
export function inactiveAsHeld(listed: ListedState, held: HeldAccount): boolean {
  return listedInactive(listed) && !held.active && sameAccountState(listed, held);
}

/** Whether a listing says the account itself is inactive (a relay-only status says nothing of the account). */
export function listedInactive(listed: ListedState): boolean {
  return !(listed.active ?? true) && !relayOnly(listed.status);
}

function relayOnly(status: string | undefined): boolean {
  return status !== undefined && RELAY_ONLY_STATUSES.has(status.toLowerCase());
}
