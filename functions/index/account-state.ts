// The account rule (issue 8, item 2). What it promises:
// - #account changes of a DID apply in the order of their own `time`: a change older than the last one applied
//   changes nothing, so a second relay that delivers an account's events late cannot set its status back.
// - A record write is indexed exactly when its account is active at the write's own `time`: the last change applied
//   at or before that time decides (none: active). So a write just before a deactivation is indexed and a write
//   after it is not, whatever batch either lands in and whichever batch commits first.
// - A change at the same time as a write counts as before it. A write older than every change kept (HISTORY_LIMIT
//   per DID) is judged active: indexing what the PDS wrote is the safer mistake, and a reactivation resyncs anyway.
// Pure: the SQL that reads and writes this state lives in account-store.ts.
import { InvariantError } from '../errors.ts';

/** One applied change of an account's status. `status` is null when active, the lexicon status string otherwise. */
export interface AccountChange {
  time: string;
  active: boolean;
  status: string | null;
}

/** Changes kept per DID: enough for a write that arrives several batches after the changes around it. */
export const HISTORY_LIMIT = 16;

/** An event time as a comparable ISO string with milliseconds and `Z`, or undefined when it is not a time at all. */
export function normalizeTime(time: string): string | undefined {
  // Fast path: the form every PDS and relay writes, already comparable as a string.
  if (time.length === 24 && time[10] === 'T' && time[23] === 'Z' && time[19] === '.') return time;
  const ms = Date.parse(time);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

export function currentChange(history: readonly AccountChange[]): AccountChange | undefined {
  return history[history.length - 1];
}

/**
 * The statuses the AppView's own indexer writes to `actor."upstreamStatus"` (its updateActorStatus; `deleted` it
 * answers by removing the actor). Any other (desynchronized, throttled, an #account without a status, a future one) it
 * refuses and leaves the column as it was, and its readers take any non-null status for "not hosted": mirrored, a
 * relay's temporary state would hide an account the AppView itself keeps showing.
 */
const APPVIEW_STATUSES: ReadonlySet<string> = new Set(['deactivated', 'suspended', 'takendown', 'deleted']);

/**
 * `actor."upstreamStatus"` as the AppView's indexer would have left it after these changes: null for the latest
 * active one, else the latest status it knows; undefined when no change in the history is one it would write (the
 * column stays as it is).
 */
export function appviewUpstreamStatus(history: readonly AccountChange[]): string | null | undefined {
  for (let i = history.length - 1; i >= 0; i--) {
    const change = history[i]!;
    if (change.active) return null;
    if (change.status !== null && APPVIEW_STATUSES.has(change.status.toLowerCase())) return change.status.toLowerCase();
  }
  return undefined;
}

/** Whether the account is active at `time` (a normalised time; undefined means "now": the latest change decides). */
export function activeAt(history: readonly AccountChange[], time: string | undefined): boolean {
  if (history.length === 0) return true;
  if (time === undefined) return history[history.length - 1]!.active;
  for (let i = history.length - 1; i >= 0; i--) {
    const change = history[i]!;
    if (change.time <= time) return change.active;
  }
  return true;
}

/** Every change in `history` is active: no write can be judged inactive, so times need not even be read. */
export function alwaysActive(history: readonly AccountChange[]): boolean {
  return history.every((c) => c.active);
}

export type ApplyOutcome = 'applied' | 'duplicate' | 'stale';

/**
 * Applies one change in stream order: older than the current change is stale; the same change again is a duplicate;
 * anything else becomes the current change (the oldest kept change drops out past HISTORY_LIMIT).
 */
export function applyChange(history: AccountChange[], change: AccountChange): ApplyOutcome {
  const current = currentChange(history);
  if (current !== undefined) {
    if (change.time < current.time) return 'stale';
    if (change.time === current.time && change.active === current.active && change.status === current.status) return 'duplicate';
  }
  history.push(change);
  if (history.length > HISTORY_LIMIT) history.splice(0, history.length - HISTORY_LIMIT);
  return 'applied';
}

/** The changes kept of a history that grew by appending (the latest HISTORY_LIMIT), as applyChange keeps them. */
export function keptChanges(history: readonly AccountChange[]): readonly AccountChange[] {
  return history.length > HISTORY_LIMIT ? history.slice(history.length - HISTORY_LIMIT) : history;
}

/** A stored history from its JSON column: anything malformed is our own corruption and fails loudly. */
export function parseHistory(value: unknown): AccountChange[] {
  if (!Array.isArray(value)) throw new InvariantError('account_state.history is not an array');
  return value.map((v: unknown) => {
    const c = v as { time?: unknown; active?: unknown; status?: unknown };
    if (typeof c.time !== 'string' || typeof c.active !== 'boolean' || (c.status !== null && typeof c.status !== 'string')) {
      throw new InvariantError(`account_state.history holds a malformed change: ${JSON.stringify(v)}`);
    }
    return { time: c.time, active: c.active, status: c.status };
  });
}
