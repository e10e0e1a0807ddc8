// Releases label_live entries parked while their source's host was down (adapters/redis/label-parking.ts): every tick
// it takes the source hosts due for a check, resolves the source DID of each one's oldest entry again (bypassing the
// cache), and when the host answers (a document, or an answer that is a verdict on the DID: the label function gives
// it) moves the host's entries back into label_live, a chunk at a time, at most RELEASE_PER_TICK a tick. A host still
// down (or a PLC/DNS outage) is checked again later, backing off with how long its oldest entry has waited, up to
// `recheckMaxMs`. The hosts due in a tick are checked at once (a dead one may take its whole timeout), and nothing is
// released while label_live is at its high-water mark (the consumers are behind: releasing would only hold every
// subscription). Nothing is dropped: a released label that waits again is parked again. A parked member that is no
// entry (truncated, another version's) is moved to the DLQ by the scripts that meet it (label-parking.ts), counted
// (skytide_labels_parked_invalid_total) and logged here, and its host goes on: it used to fail the host's release, and
// the tick, every tick. State is all in Redis, so a restart, or another process running the same loop, takes up
// where it stands. Labels parked only because their cts is not due yet (`due:<source>`: label-parking.ts) have no host
// to check: each is released once it is due (LabelParking.releaseDueAt: a set by due time, so a label due in minutes does not wait
// behind one parked before it that is due in a day), and the source is checked again when its earliest entry left is.
import type { Log, Metrics } from '../../functions/ports.ts';
import { dependencyErrorIn, describeError } from '../../functions/errors.ts';
import { DidHostUnavailableError, type IdentityResolver } from '../../functions/atproto/identity/did-document.ts';
import { INVALID_PARKED_ENTRY, isNotDueHost, type LabelParking, type SetAside } from '../../adapters/redis/label-parking.ts';
import { STREAMS } from '../../adapters/redis/keys.ts';
import { sleep } from '../sleep.ts';

/** Source hosts checked per tick, and entries moved back per script run and per tick: bounded work. */
export const HOSTS_PER_TICK = 20;
export const RELEASE_CHUNK = 200;
export const RELEASE_PER_TICK = 2000;
/** The first re-check of a host comes this long after it was parked (or recheckMaxMs, if smaller). */
export const RECHECK_BASE_MS = 1000;

export interface LabelReleaseOptions {
  parking: LabelParking;
  identity: IdentityResolver;
  /** LABEL_PARKED_RECHECK_MAX_MS: the longest wait between two checks of a host that is down. */
  recheckMaxMs: number;
  /** INGESTER_LABEL_HIGH_WATER_MARK: at this label_live length nothing is released. */
  highWaterMark: number;
  log: Log;
  metrics: Metrics;
  signal: AbortSignal;
  /** The supervisor's beat: once a tick. */
  beat?: () => void;
}

/** The first check of a host parked at `now`. */
export function firstCheckAt(now: number, recheckMaxMs: number): number {
  return now + Math.min(RECHECK_BASE_MS, recheckMaxMs);
}

/** Whether the DID's host answers: false while it is unreachable or an outage keeps us from asking. */
async function answers(identity: IdentityResolver, did: string): Promise<boolean> {
  try {
    await identity.resolve(did, { forceRefresh: true });
    return true;
  } catch (err) {
    if (err instanceof DidHostUnavailableError || dependencyErrorIn(err) !== undefined) return false;
    // Any other answer (a document that is no good, no such DID) is the label function's verdict to give.
    return true;
  }
}

/**
 * Counts and logs parked members the parking scripts moved to the DLQ, then recounts what each labeler has parked: a
 * member that no longer names its labeler could not be taken off its count, which held the labeler's subscription
 * nearer its mark for good.
 */
async function reportSetAside(o: Pick<LabelReleaseOptions, 'parking' | 'log' | 'metrics'>, host: string, aside: SetAside): Promise<void> {
  if (aside.setAside === 0) return;
  o.metrics.inc('skytide_labels_parked_invalid_total', {}, aside.setAside);
  o.metrics.inc('skytide_dead_letters_total', { stream: STREAMS.labelLive, reason: INVALID_PARKED_ENTRY }, aside.setAside);
  o.log.warn('parked labels that are no entry moved to the dlq; the host\'s others are released as usual', {
    host, count: aside.setAside, reason: INVALID_PARKED_ENTRY, problem: aside.problem,
  });
  await recountParked(o);
}

/** Recounts each labeler's parked entries (LabelParking.recount); a failure is logged, the next set-aside tries again. */
async function recountParked(o: Pick<LabelReleaseOptions, 'parking' | 'log'>): Promise<void> {
  try {
    const off = await o.parking.recount();
    if (off > 0) o.log.warn('parked label counts corrected from the parked entries', { off });
  } catch (err) {
    o.log.warn('recounting parked labels failed', { err: describeError(err) });
  }
}

/** One tick: how many parked members it moved (released, or set aside to the DLQ). */
export async function releaseDue(o: Omit<LabelReleaseOptions, 'signal' | 'beat'>, now = Date.now()): Promise<number> {
  if ((await o.parking.streamLength()) >= o.highWaterMark) return 0;
  const hosts = await o.parking.due(now, HOSTS_PER_TICK);
  // Checked at once; a host whose check fails (its head unreadable) is logged and tried again at its next turn.
  const answered = await Promise.all(hosts.map(async (host) => {
    // Released by time: releaseDueAt takes only the entries that are due and schedules the rest.
    if (isNotDueHost(host)) return true;
    try {
      const { head, more, ...aside } = await o.parking.head(host);
      await reportSetAside(o, host, aside);
      if (head === undefined) {
        if (!more) return true;
        // Only damage so far: the rest of it goes at the next tick.
        await o.parking.reschedule(host, now);
        return false;
      }
      if (await answers(o.identity, head.on)) return true;
      // Backs off with how long the host has been down: checked about twice as far apart each time.
      const delay = Math.min(o.recheckMaxMs, Math.max(Math.min(RECHECK_BASE_MS, o.recheckMaxMs), now - head.parkedAt));
      await o.parking.reschedule(host, now + delay);
    } catch (err) {
      o.log.warn('checking the host of parked labels failed', { host, err: describeError(err) });
      await o.parking.reschedule(host, now + o.recheckMaxMs).catch(() => {});
    }
    return false;
  }));
  let budget = RELEASE_PER_TICK;
  for (const [i, host] of hosts.entries()) {
    if (answered[i] !== true) continue;
    if (budget <= 0) break;
    let left = 1;
    let moved = 0;
    const byTime = isNotDueHost(host);
    while (left > 0 && budget > 0) {
      const chunk = Math.max(1, Math.min(RELEASE_CHUNK, budget));
      const step = byTime ? await o.parking.releaseDueAt(host, now, chunk) : await o.parking.release(host, chunk);
      await reportSetAside(o, host, step);
      budget -= step.released + step.setAside;
      moved += step.released + step.setAside;
      left = step.left;
      if (step.released > 0) o.metrics.inc('skytide_labels_released_total', {}, step.released);
      if (step.released + step.setAside === 0) break;
      // Fewer than asked: no more of a not-due source's entries are due.
      if (byTime && step.released + step.setAside < chunk) break;
    }
    // A source scheduled by a list from before the set may have had none due.
    if (byTime) {
      if (moved > 0) o.log.info('parked labels released: they are due', { host, left });
    } else o.log.info('parked labels released: their source host answers again', { host, left });
  }
  return RELEASE_PER_TICK - budget;
}

/**
 * Recounts the parked labels, then runs releaseDue every tick until aborted; a tick that fails is logged and the next
 * one tries again.
 */
export async function runLabelRelease(o: LabelReleaseOptions): Promise<void> {
  const tickMs = Math.min(RECHECK_BASE_MS, o.recheckMaxMs);
  // A process stopped between a set-aside and its recount left a count too high: made true before the first tick.
  await recountParked(o);
  while (!o.signal.aborted) {
    let released = 0;
    try {
      released = await releaseDue(o);
    } catch (err) {
      o.log.warn('releasing parked labels failed; trying again', { err: describeError(err) });
    }
    // A full tick leaves more to release: go on at once.
    o.beat?.();
    if (released < RELEASE_PER_TICK) await sleep(tickMs, o.signal);
  }
}
