// The `label` function: a batch of label_live entries (entry.ts) becomes ONE Postgres transaction of label rows.
// Pure over its ports (sql, identity, clock, log, metrics, and the trusted sources the caller configured): it runs
// in-process under the consumer, behind POST /functions/label, or in a Worker, and answers the same for the same input.
// Promises:
// - Every label gets a verdict: stored (as a label or a negation), rejected with a reason from LABEL_REJECTIONS
//   (counted; the entry is still acknowledged: a forged label is a verdict, not a failure to retry), or deferred
//   (its source's DID document could not be had for a reason other than an outage: the entry is retried; its
//   source's own host is down, or it passed every check but its cts is not due yet (future-cts.ts): the entry
//   waits, no delivery counted, `on` naming what it waits on so the caller can park it out of label_live).
// - Signatures are checked before the transaction (network I/O never holds a transaction open); rows follow
//   store.ts, so replaying any set of entries in any order ends in the same rows; nothing is ever deleted.
// - An outage of Postgres or of the PLC directory (DependencyError) is thrown: the caller waits and retries the batch,
//   and no label is rejected because a dependency was down.
import pLimit from 'p-limit';
import type { BasePorts, Sql } from '../ports.ts';
import { ok, retry, wait, type ItemOutcome } from '../result.ts';
import type { Reason } from '../reasons.ts';
import type { IdentityResolver } from '../atproto/identity/did-document.ts';
import { UNKNOWN_HOST, type LabelEntry } from './entry.ts';
import { normalizeRskyLabel, parseLabel } from './label.ts';
import { BatchIdentities, checkLabel, recheckAgainstFresh, type LabelCheck, type LabelRejection, type TrustReason } from './verify-label.ts';
import type { Label } from './label.ts';
import { storeLabels } from './store.ts';
import { toRow, type LabelRow } from './version.ts';
import { ctsDueAt, ctsTiming, notDueOn } from './future-cts.ts';

export interface LabelPorts extends BasePorts {
  sql: Sql;
  identity: IdentityResolver;
  /** LABEL_TRUSTED_SOURCES: DIDs whose labels are accepted unsigned or from another host (each counted). */
  trustedSources: ReadonlySet<string>;
}

export type LabelVerdict =
  | { status: 'label' | 'negation'; src: string; trusted?: TrustReason }
  | { status: 'rejected'; reason: LabelRejection; message: string }
  /**
   * `wait`: deferred only because the source's own host is down (verify-label.ts), or because the label's cts is not
   * due yet (`notDue`, future-cts.ts), so no delivery counts.
   */
  | { status: 'retry'; reason: Reason; message: string; wait?: true; notDue?: true };

/** A label checked against its source that passed, but whose cts is not due: when it is. */
interface NotDue {
  label: Label;
  check: LabelCheck;
  notDue: string;
  dueMs: number;
}

export interface LabelBatchResult {
  /**
   * One per entry, same order: `retry` when one of its labels was deferred (`wait` when only because its source's host
   * is down, naming that source in `on`), else `ok`.
   */
  outcomes: ItemOutcome[];
  /** One list per entry, one verdict per label in it. */
  verdicts: LabelVerdict[][];
  /** Rows the batch wrote or replaced (0 for a replay of what is stored). */
  changed: number;
}

/** Signature checks in flight at once: each may resolve a DID document. */
const VERIFY_CONCURRENCY = 8;

export async function labelBatch(entries: readonly LabelEntry[], ports: LabelPorts): Promise<LabelBatchResult> {
  const identities = new BatchIdentities(ports.identity);
  const limit = pLimit(VERIFY_CONCURRENCY);
  type Checked = { label: Label; check: LabelCheck } | { invalid: string } | NotDue;
  const checked: Checked[][] = await Promise.all(
    entries.map((entry) =>
      Promise.all(
        entry.labels.map(async (raw): Promise<Checked> => {
          const parsed = parseLabel(entry.form === 'rsky' ? normalizeRskyLabel(raw) : raw);
          if (!parsed.ok) return { invalid: parsed.message };
          const { label } = parsed;
          const timing = ctsTiming(label, ports.clock.now());
          if (!timing.due && timing.refuse) return { label, check: { ok: false, reason: 'future_cts', message: timing.message } };
          // Checked whether due or not: only a label that would be stored may wait to be due (an unsigned or forged
          // one is judged now, and never occupies anything).
          const check = await limit(() => checkLabel(label, entry.host, ports.trustedSources.has(label.src), identities));
          return timing.due ? { label, check } : { label, check, notDue: timing.message, dueMs: ctsDueAt(label) };
        }),
      ),
    ),
  );
  // Only once every check is done does the batch know every document it refetched (rotated keys).
  const rows: LabelRow[] = [];
  const verdicts: LabelVerdict[][] = await Promise.all(
    checked.map((list, i) =>
      Promise.all(
        list.map(async (c): Promise<LabelVerdict> => {
          if ('invalid' in c) return { status: 'rejected', reason: 'invalid_label', message: c.invalid };
          const { label } = c;
          const host = entries[i]!.host;
          const check = await recheckAgainstFresh(c.check, label, host, ports.trustedSources.has(label.src), identities);
          if (check.ok === 'retry') {
            return check.wait === true
              ? { status: 'retry', reason: check.reason, message: check.message, wait: true }
              : { status: 'retry', reason: check.reason, message: check.message };
          }
          if (check.ok === false) return { status: 'rejected', reason: check.reason, message: check.message };
          if ('notDue' in c) return { status: 'retry', reason: 'label_not_due', message: c.notDue, wait: true, notDue: true };
          rows.push(toRow(label, check.signingKey));
          const status = label.neg === true ? 'negation' : 'label';
          return check.trusted === undefined ? { status, src: label.src } : { status, src: label.src, trusted: check.trusted };
        }),
      ),
    ),
  );

  const changed = rows.length === 0 ? 0 : await ports.sql.transaction((tx) => storeLabels(tx, rows));

  const outcomes = verdicts.map((list, i): ItemOutcome => {
    const deferred = list.filter((v) => v.status === 'retry');
    const first = deferred[0];
    if (first === undefined) return ok;
    // A delivery counts toward the DLQ only when some label of the entry was deferred for a reason of its own.
    const counted = deferred.find((v) => v.wait !== true);
    if (counted !== undefined) return retry(counted.reason, counted.message);
    // It waits on the source of its first label waiting on a host (the caller parks it per that source's host); when
    // all that waits is not due yet, until the latest of them is due, parked under the first one's source.
    const onHost = deferred.find((v) => v.notDue !== true);
    if (onHost === undefined) {
      const notDue = (checked[i] ?? []).filter((c, j): c is NotDue => 'notDue' in c && list[j]?.status === 'retry');
      const dueMs = Math.max(...notDue.map((c) => c.dueMs));
      return wait(first.reason, first.message, notDue[0] === undefined ? undefined : notDueOn(notDue[0].label.src, dueMs));
    }
    const waited = checked[i]?.[list.indexOf(onHost)];
    return wait(onHost.reason, onHost.message, waited !== undefined && 'label' in waited ? waited.label.src : undefined);
  });
  report(entries, verdicts, ports);
  return { outcomes, verdicts, changed };
}

/** Counts every verdict, then logs one line per batch that rejected or deferred anything (never one per label). */
function report(entries: readonly LabelEntry[], verdicts: LabelVerdict[][], ports: LabelPorts): void {
  const problems = new Map<string, number>();
  verdicts.forEach((list, i) => {
    const host = entries[i]?.host ?? UNKNOWN_HOST;
    for (const v of list) {
      if (v.status === 'rejected' || v.status === 'retry') {
        ports.metrics.inc('skytide_labels_total', { host, outcome: v.status === 'rejected' ? 'rejected' : 'retry' });
        if (v.status === 'rejected') ports.metrics.inc('skytide_labels_rejected_total', { host, reason: v.reason });
        const key = `${host} ${v.reason}`;
        problems.set(key, (problems.get(key) ?? 0) + 1);
        continue;
      }
      ports.metrics.inc('skytide_labels_total', { host, outcome: v.status });
      ports.metrics.inc('skytide_labels_by_source_total', { src: v.src, outcome: v.status });
      if (v.trusted !== undefined) ports.metrics.inc('skytide_labels_trusted_total', { src: v.src, why: v.trusted });
    }
  });
  if (problems.size > 0) {
    const first = verdicts.flat().find((v) => v.status === 'rejected' || v.status === 'retry');
    ports.log.warn('labels rejected or deferred', {
      counts: Object.fromEntries(problems),
      example: first !== undefined && 'message' in first ? first.message : undefined,
    });
  }
}
