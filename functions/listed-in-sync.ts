// Whether what a listRepos page (or a repo_backfill entry made from one) says of a repo is what skytide already holds,
// so that fetching the repo again would change nothing. Both sweepers (long-runners/sweeper, the Worker's cron) and
// the backfill's "already synchronized" shortcut decide with this, so they never disagree.
//
// The rev alone is not enough: listRepos also gives the account's `active` and `status`, and a takedown, deactivation
// or reactivation changes no rev. If its #account event was missed (a firehose gap, an OutdatedCursor), only a
// listing that differs from the stored state can bring it back: the backfill then asks the PDS, whose answer is
// applied as an observation of the account (backfill-repo/account.ts).

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

/** A repo repo_sync holds as synchronized at `rev`, with its account's stored state. */
export interface HeldRepo extends HeldAccount {
  rev: string | null;
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
  if (!active && listed.status !== undefined && RELAY_ONLY_STATUSES.has(listed.status.toLowerCase())) return true;
  if (active !== held.active) return false;
  if (active || listed.status === undefined) return true;
  // Stored statuses are lowercase (rsky wrote the Rust enum name, `Takendown`).
  return listed.status.toLowerCase() === held.status?.toLowerCase();
}

/** A sweep skips a listed repo only when repo_sync holds it synchronized at exactly the listed rev, in the same account state. */
export function listedInSync(listed: ListedState, held: HeldRepo | undefined): boolean {
  return held !== undefined && listed.rev !== undefined && held.rev === listed.rev && sameAccountState(listed, held);
}
