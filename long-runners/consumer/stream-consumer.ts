// One consumer-group loop for every stream (README.md, Contracts: the groups, settling, the DLQ).
// Promises: an entry leaves the stream only by XACK+XDEL after its outcome is ok, or by the DLQ in the same settle script.
// Entries that other consumers left idle (crashes) and our own retries come back through XAUTOCLAIM and are
// processed again, never acknowledged blind; on start, what this consumer name still holds (a run killed mid-batch)
// is processed first, before any new entry; pending entries are read one at a time once one of them was delivered
// maxAttempts times (pendingReadSize), so an entry that kills its process is isolated. A throwing batch function is retried and bisected (run-batch.ts); an
// outage (a DependencyError, or a failing probe) dead-letters nothing and counts no delivery: the batch stays claimed
// and is tried again until the dependency is back, each wait reported to the outage board. Entries in flight are
// claimed again every third of claimIdleMs, however long the function takes. With readAhead, a
// backlog's next batch is read and parsed while one is processed, and kept claimed with it. With `lanes`, a batch's
// parts run at once, each lane's in stream order; with batchesInFlight 2, a lane starts on the next batch while the
// others finish this one.
// A batch's settle runs while the next batch is processed (settles land in read order; one that fails fails the next
// step, and its entries stay pending). On abort the batches in flight are finished (then the one read ahead) or,
// stopped while waiting out an outage, abandoned unsettled: they stay pending with their delivery taken back (and the
// batch read ahead with its read), as after a wait, so stopping (a deploy) during an outage never brings an entry
// nearer the DLQ; only a run that dies (SIGKILL, a crash) leaves its delivery counted, as does a stop whose take-back
// Redis does not answer within TAKE_BACK_TIMEOUT_MS. An outcome `wait` (something the entry depends on is unavailable) leaves
// the entry pending with its delivery taken back (XCLAIM RETRYCOUNT): it comes back after claimIdleMs, never nearer
// the DLQ; with `park`, one whose outcome names what it waits on (`on`) is then moved out of the stream to wait
// there (label_live: label-parking.ts), so a stream full of waiting entries holds no subscription back. A pending entry whose data was deleted (by hand) is acknowledged, counted and logged, never dead-lettered
// (nothing in it to replay). All state is in Redis: attempts are the group's delivery counts, so a
// restart loses nothing and forgets nothing.
import type { Redis } from 'ioredis';
import type { Log, Metrics } from '../../functions/ports.ts';
import type { ParseResult } from '../../functions/events.ts';
import type { ItemOutcome } from '../../functions/result.ts';
import type { Reason } from '../../functions/reasons.ts';
import { describeError, InvariantError, type Dependency } from '../../functions/errors.ts';
import type { OutageBoard } from '../../adapters/observability/outage-board.ts';
import type { KeySpace } from '../../adapters/redis/keys.ts';
import {
  claimIdle,
  deliveryCounts,
  mostDeliveries,
  compareIds,
  ensureGroup,
  forgetDeleted,
  keepClaimed,
  pendingCount,
  readNew,
  readOwnPending,
  setDeliveryCounts,
  settle,
  type DeadLetter,
  type Settlement,
  type StreamEntry,
} from '../../adapters/redis/consumer-group.ts';
import { READ_BLOCK_MS } from '../../adapters/redis/read-block.ts';
import { isThrew, type IsolatedOutcome } from './isolate-failures.ts';
import { DEFAULT_RETRY_BACKOFF, runBatch, type RetryBackoff } from './run-batch.ts';
import { sleep } from '../sleep.ts';
import { writeRefusal } from '../../adapters/redis/write-refusal.ts';
import { createBlockingReader } from '../../adapters/redis/client.ts';
import { pruneConsumers } from '../../adapters/redis/group-consumers.ts';
import { createBackoff } from '../../functions/backoff.ts';
import { waitOut } from '../wait-out.ts';
import { DeadlineError, withDeadline } from '../../adapters/http/deadline.ts';

export interface StreamConsumerOptions<T> {
  redis: Redis;
  keys: KeySpace;
  /** Stream name (unprefixed), e.g. firehose_live, or one shard of it (`firehose_live:{2}`, STREAM_SHARDS > 1). */
  stream: string;
  /** The logical stream a shard belongs to, for the metrics' `stream` label; `stream` when absent. */
  metricStream?: string;
  group: string;
  /** Unique per instance: two consumers sharing a name fight over each other's pending entries. */
  consumer: string;
  batchSize: number;
  blockMs?: number;
  /**
   * Entries pending this long on any consumer (a crashed one) are claimed and processed again. The loop claims its
   * own again every third of it while they are in flight, so a batch may take longer.
   */
  claimIdleMs?: number;
  /** Deliveries after which an entry still marked retry (or still throwing alone) goes to the DLQ. */
  maxAttempts: number;
  parse: (fields: Record<string, string>) => ParseResult<T>;
  /** One outcome per item, same order. Throws only when infrastructure fails. */
  handle: (items: T[]) => Promise<ItemOutcome[]>;
  log: Log;
  metrics: Metrics;
  signal: AbortSignal;
  /**
   * Checks the function's dependencies (for the index: `select 1`). When the batch throws and the probe fails, it is
   * an outage: the batch waits, and nothing counts against its entries. Without a probe see run-batch.ts.
   */
  probe?: () => Promise<void>;
  /** What a failing probe means when its error names no dependency (default postgres: the probes we wire run `select 1`). */
  probeDependency?: Dependency;
  /** Where outage waits are reported (counted, logged once per outage, shown as degraded by /ready and the status). */
  outages?: OutageBoard;
  /** Delays between retries of a throwing batch, of an outage, and after Redis errors. */
  backoff?: RetryBackoff;
  /**
   * Consumers of the group idle this long and holding nothing are deleted when this one starts (DEAD_CONSUMER_IDLE_MS
   * unless given; 0: never).
   */
  pruneIdleMs?: number;
  /** Called when a read finds nothing new and the group has nothing pending: the stream is fully processed. */
  onIdle?: () => void;
  /**
   * Read the next batch while this one is processed, when this one was a full read of new entries (a backlog): the
   * read and its parsing then overlap the function's work instead of leaving the database idle between batches.
   * For short batch functions (the index); a slow one (a repo backfill) would hold entries it cannot start on.
   */
  readAhead?: boolean;
  /**
   * Lanes a batch is split into (the index: by DID, split-by-did.ts): `of(item)` is the item's lane, from 0 to
   * `count - 1`. Each lane's part of a batch is a call of its own, run at once with the other lanes' and retried,
   * waited out or bisected on its own (run-batch.ts); a lane takes its part of the next batch only once its part of
   * this one has an outcome, so the items of a lane are handled in stream order, retries included. Default: one lane.
   */
  lanes?: { count: number; of: (item: T) => number };
  /**
   * Batches of new entries in flight (default 1): with 2, a lane done with its part of one batch starts on its part
   * of the next while other lanes are still on theirs, instead of every lane waiting for the slowest. Batches settle
   * in read order. Entries claimed from the pending list are processed alone, once every batch in flight has ended.
   */
  batchesInFlight?: number;
  /**
   * Moves entries whose outcome is `wait` on something named (`on`) out of the stream, after their batch's settle
   * and with their delivery already taken back; it must acknowledge each entry in the same atomic step as it stores
   * it, and do nothing for an entry no longer pending (a resend, another consumer's settle). Should it fail, the
   * entries stay pending and come back through XAUTOCLAIM, as without it. Without it they stay pending.
   */
  park?: (waiting: readonly { entry: StreamEntry; item: T; on: string }[]) => Promise<void>;
  /**
   * The supervisor's beat (supervisor.ts): after every step of the loop (a read that returned, empty or not, and what
   * it admitted) and every wait (an outage, Redis refusing the group, a failed step). A batch that hangs beats nothing.
   */
  beat?: () => void;
}

/** A read of new entries, and whether the reader's connection broke while it was out (a reply may have been lost). */
interface FreshRead {
  entries: StreamEntry[];
  broken: boolean;
}

/** Entries parsed between two turns of the event loop when a batch read ahead is parsed (about a millisecond). */
const PARSE_SLICE = 250;

/**
 * How long a stop waits for Redis to take back the deliveries of the entries it abandons: one that does not answer
 * (down) must not hold the shutdown; the entries then keep their delivery, as after a crash.
 */
export const TAKE_BACK_TIMEOUT_MS = 2_000;

/** Deliveries with no verdict at all (the consumer died each time) after which an entry is presumed to kill it. */
export const CRASH_DELIVERIES_FACTOR = 2;

/**
 * A consumer this idle is taken for one whose process is gone: a live one reads at least every blockMs, which resets
 * its idle time, and one holding entries is never pruned (group-consumers.ts checks and deletes in one script).
 */
export const DEAD_CONSUMER_IDLE_MS = 24 * 3600_000;

export async function runStreamConsumer<T>(options: StreamConsumerOptions<T>): Promise<void> {
  const { redis, keys, group, consumer, log, metrics, signal, maxAttempts } = options;
  // Per-function latency for the status page and /metrics: every call counted with its duration.
  const timed = async (items: T[]): Promise<ItemOutcome[]> => {
    const started = performance.now();
    try {
      return await options.handle(items);
    } finally {
      metrics.inc('skytide_function_calls_total', { stream: options.metricStream ?? options.stream });
      metrics.inc('skytide_function_seconds_total', { stream: options.metricStream ?? options.stream }, (performance.now() - started) / 1000);
    }
  };
  const stream = keys.stream(options.stream);
  const dlq = keys.dlq(options.stream);

  /**
   * `step` (a write), Redis refusing writes (out of memory, a read-only replica) waited out on the outage board as
   * `<stream>:<consumer><suffix>`, the 1st, 10th, 100th... refusal logged with `message`. False when stopped meanwhile.
   */
  const waitingOutRefusals = async (step: () => Promise<unknown>, suffix: string, message: string, fields: Record<string, unknown> = {}): Promise<boolean> => {
    const waiter = `${options.stream}:${consumer}${suffix}`;
    const done = await waitOut(step, {
      outage: writeRefusal, backoff: options.backoff ?? DEFAULT_RETRY_BACKOFF, signal, beat: options.beat,
      warn: ({ waits, why }) => log.warn(message, { stream: options.stream, ...fields, refusals: waits, err: why }),
      onWait: ({ why }) => options.outages?.waiting(waiter, 'redis', why),
    });
    if ('stopped' in done || done.waits > 0) options.outages?.resumed(waiter);
    return !('stopped' in done);
  };

  /**
   * The group, made if missing. XGROUP CREATE is a write, refused out of memory even when the group exists: Redis full
   * (the consumers are what drains it) or a read-only replica is waited out, on the outage board, never a crash at
   * start that would restart the process in a loop. False when stopped meanwhile.
   */
  const ensureGroupWaitingOutRefusals = async (): Promise<boolean> => {
    if (signal.aborted) return false;
    return waitingOutRefusals(() => ensureGroup(redis, stream, group), '', 'redis refuses writes: the consumer waits to start');
  };
  /**
   * A group keeps every consumer name that ever read from it, and names change with each process (hostname-pid, and a
   * container's hostname with each one): left alone, every restart of every process added its consumers to each group
   * for good. Those idle past pruneIdleMs that hold nothing go when a consumer starts; a failure only delays that.
   */
  const pruneDeadConsumers = async (): Promise<void> => {
    const idleMs = options.pruneIdleMs ?? DEAD_CONSUMER_IDLE_MS;
    if (idleMs <= 0) return;
    try {
      const pruned = await pruneConsumers(redis, stream, group, idleMs, consumer);
      if (pruned.length > 0) log.info('idle consumers holding nothing removed from the group', { stream: options.stream, group, removed: pruned.length, idleMs, names: pruned.slice(0, 10) });
    } catch (err) {
      log.warn('removing idle consumers failed', { stream: options.stream, group, err: describeError(err) });
    }
  };
  const blockMs = options.blockMs ?? READ_BLOCK_MS;
  const claimIdleMs = options.claimIdleMs ?? 60_000;
  const backoff = options.backoff ?? DEFAULT_RETRY_BACKOFF;
  const count = (outcome: 'ok' | 'retry' | 'wait' | 'dead' | 'dlq' | 'invalid' | 'deleted', n = 1) => {
    if (n > 0) metrics.inc('skytide_consumer_entries_total', { stream: options.metricStream ?? options.stream, outcome }, n);
  };

  /** Pending ids whose entry was deleted (by hand: XDEL, XTRIM), read back as our own or met by a claim alike. */
  const forget = (deleted: readonly string[]): Promise<void> =>
    forgetDeleted(redis, stream, group, deleted, { log, metrics, metricStream: options.metricStream ?? options.stream });

  const parseEntry = (entry: StreamEntry): ParseResult<T> => {
    try {
      return options.parse(entry.fields);
    } catch (err) {
      return { ok: false, message: `parser threw: ${describeError(err)}` };
    }
  };

  /**
   * The next read, started while the current batch is processed (readAhead), and its entries parsed; `entries` once
   * it has returned.
   */
  let ahead: { read: Promise<FreshRead>; parsed: Promise<ParseResult<T>[]>; entries?: StreamEntry[] } | undefined;
  /** Whether a batch was left unsettled by a stop during an outage wait (only ever after a stop was asked for). */
  let abandoned = false;
  /**
   * Sets the delivery counts of entries a stop abandons without an outcome to what they were before this delivery:
   * a graceful stop is not a crash, so the delivery must not count towards the DLQ. Bounded (TAKE_BACK_TIMEOUT_MS) and
   * never throws: should Redis not answer, the entries keep their delivery, as after a crash, and the stop goes on.
   */
  const takeBack = async (counts: ReadonlyMap<string, number>, what: string): Promise<void> => {
    if (counts.size === 0) return;
    const taking = setDeliveryCounts(redis, stream, group, consumer, counts);
    // Let go when the deadline cuts it short: it may still fail later, and nobody is waiting for it then.
    taking.catch(() => {});
    try {
      await withDeadline(taking, TAKE_BACK_TIMEOUT_MS, 'taking back deliveries');
      log.info('entries left pending at the stop, their delivery taken back', { stream: options.stream, what, count: counts.size });
    } catch (err) {
      if (err instanceof DeadlineError) log.warn('taking back the deliveries of entries left at the stop timed out: they keep them', { stream: options.stream, what, count: counts.size, timeoutMs: TAKE_BACK_TIMEOUT_MS });
      else log.warn('taking back the deliveries of entries left at the stop failed: they keep them', { stream: options.stream, what, count: counts.size, err: describeError(err) });
    }
  };
  /**
   * The last batch's settle (XACK+XDEL, DLQ), still in flight while the next batch is processed: it waited on Redis
   * between batches, the database idle meanwhile. Awaited before the next settle (so settles land in order and a
   * failed one fails the step), before anything that reads the group's pending entries, and before the loop ends.
   */
  let settling: Promise<void> | undefined;
  const settled = async (): Promise<void> => {
    const last = settling;
    settling = undefined;
    await last;
  };
  /**
   * A batch's settle, with Redis refusing writes (out of memory with only dead letters to write, a read-only replica)
   * waited out on the outage board like any refusal: failing, it was a failed step logged unsampled every try, its
   * good entries processed again and its dead ones dead-lettered later as max_retries_exceeded, their reason lost.
   * Stopped meanwhile, the batch stays pending (as after a crash).
   */
  const settleWaitingOutRefusals = async (settlement: Settlement): Promise<boolean> => {
    const settledNow = await waitingOutRefusals(() => settle(redis, stream, dlq, group, settlement), ':settle', 'redis refuses writes: the batch\'s settle waits', { entries: settlement.ack.length + settlement.letters.length });
    if (!settledNow) log.warn('stopped while redis refuses writes: the batch stays pending', { stream: options.stream });
    return settledNow;
  };

  let parkFailures = 0;
  /**
   * Parks a settled batch's waiting entries. A failure leaves them pending, back through XAUTOCLAIM (the park's
   * contract), and is logged (the 1st, 10th, 100th...): thrown, it failed the next batch's step, whose good entries
   * were then left unacknowledged and processed twice.
   */
  const parkOrLeave = async (park: NonNullable<typeof options.park>, parking: readonly { entry: StreamEntry; item: T; on: string }[]): Promise<void> => {
    try {
      await park(parking);
    } catch (err) {
      if (Number.isInteger(Math.log10(++parkFailures))) {
        log.warn('parking waiting entries failed: they stay pending and come back when idle', { stream: options.stream, entries: parking.length, failures: parkFailures, err: describeError(err) });
      }
    }
  };

  /** Starts this batch's settle; the one before must have been awaited (settled()). */
  const settleLater = (settlement: Settlement, parking: readonly { entry: StreamEntry; item: T; on: string }[] = []): void => {
    const park = options.park;
    const next = settleWaitingOutRefusals(settlement).then(async (settledNow) => {
      if (settledNow && park !== undefined && parking.length > 0) await parkOrLeave(park, parking);
    });
    // Seen when awaited (settled()); until then a failure must not be an unhandled rejection.
    next.catch(() => {});
    settling = next;
  };

  /**
   * Batches in flight (batchesInFlight), oldest first, and the turn of the next one to settle: a batch settles after
   * the one read before it, so settles land in read order.
   */
  const inFlight: Promise<void>[] = [];
  let settleTurn: Promise<void> = Promise.resolve();
  /** The entries of the batches in flight, until their settle starts: all kept claimed through any lane's wait. */
  const holding = new Set<readonly string[]>();
  const laneCount = Math.max(1, options.lanes?.count ?? 1);
  const inFlightMost = Math.max(1, options.batchesInFlight ?? 1);
  const laneOf = options.lanes === undefined || laneCount === 1 ? () => 0 : options.lanes.of;
  /** Each lane's part of the last batch, ended (whatever its outcome): the next part of the lane starts after it. */
  const laneTails: Promise<unknown>[] = Array.from({ length: laneCount }, () => Promise.resolve());
  /** Lanes that stopped while waiting out an outage (a stop was asked for): they take no further part. */
  const laneStopped: boolean[] = [];
  /** Waits for every batch in flight to end; throws the first failure once all have ended. */
  const drained = async (): Promise<void> => {
    let failure: { err: unknown } | undefined;
    while (inFlight.length > 0) {
      try {
        await inFlight.shift();
      } catch (err) {
        failure ??= { err };
      }
    }
    if (failure !== undefined) throw failure.err;
  };
  /** Starts a batch, then waits while batchesInFlight are running: the oldest's failure fails this step. */
  const admit = async (batch: Promise<void>): Promise<void> => {
    // Seen when awaited (here or in drained()); until then a failure must not be an unhandled rejection.
    batch.catch(() => {});
    inFlight.push(batch);
    while (inFlight.length >= inFlightMost) await inFlight.shift();
  };

  /** Every entry in flight and those read ahead: they are ours and wait behind the batch being processed. */
  const ours = (): string[] => [...[...holding].flat(), ...(ahead?.entries ?? []).map((e) => e.id)];
  /**
   * Claimed again every third of claimIdleMs while they are ours, not only before a wait: a call that outlasts
   * claimIdleMs (a huge repo's backfill) would otherwise let a sibling loop claim its entries and run them again
   * while it still runs. Once settled, an entry has left the pending list, and claiming it again does nothing.
   */
  let refreshing = false;
  const refreshClaims = (): void => {
    const ids = ours();
    if (refreshing || ids.length === 0) return;
    refreshing = true;
    keepClaimed(redis, stream, group, consumer, ids)
      .catch((err: unknown) => log.warn('keeping entries claimed failed', { stream: options.stream, count: ids.length, err: describeError(err) }))
      .finally(() => (refreshing = false));
  };

  /** runBatch with this loop's retry, outage and claim settings, for one lane's part. */
  const runPart = (items: T[], lane: number) => runBatch(items, {
    handle: timed,
    probe: options.probe,
    probeDependency: options.probeDependency,
    backoff,
    // Claimed again before every wait: no wait may be so long that the entries idle out to another consumer.
    maxWaitMs: claimIdleMs / 2,
    outages: options.outages === undefined ? undefined
      : { board: options.outages, waiter: laneCount === 1 ? `${options.stream}:${consumer}` : `${options.stream}:${consumer}:lane${lane}` },
    signal,
    beat: options.beat,
    beforeWait: () => keepClaimed(redis, stream, group, consumer, ours()),
    log,
    stream: options.stream,
  });

  /**
   * Outcomes of `items` in their order, each lane's part run behind that lane's part of the batch before; undefined
   * for the items of a lane that stopped while waiting out an outage. A broken contract in any lane is thrown once
   * every lane has ended.
   */
  const runLanes = async (items: T[]): Promise<(IsolatedOutcome | undefined)[]> => {
    const positions: number[][] = Array.from({ length: laneCount }, () => []);
    items.forEach((item, i) => {
      const lane = laneOf(item);
      if (!Number.isInteger(lane) || lane < 0 || lane >= laneCount) throw new InvariantError(`lane ${lane} is not one of ${laneCount}`);
      (positions[lane] as number[]).push(i);
    });
    const parts = positions.flatMap((at, lane) => {
      if (at.length === 0) return [];
      const run = (laneTails[lane] as Promise<unknown>).then(async () => {
        // A lane that stopped while waiting out an outage takes no later part: its items would overtake those left pending.
        if (laneStopped[lane] === true) return 'aborted' as const;
        const got = await runPart(at.map((i) => items[i] as T), lane);
        if (got === 'aborted') laneStopped[lane] = true;
        return got;
      });
      laneTails[lane] = run.catch(() => {});
      return [{ at, run }];
    });
    const ended = await Promise.allSettled(parts.map((p) => p.run));
    const failed = ended.find((e): e is PromiseRejectedResult => e.status === 'rejected');
    if (failed !== undefined) throw (failed.reason as unknown);
    const outcomes = new Array<IsolatedOutcome | undefined>(items.length).fill(undefined);
    parts.forEach(({ at }, k) => {
      const got = (ended[k] as PromiseFulfilledResult<IsolatedOutcome[] | 'aborted'>).value;
      if (got !== 'aborted') at.forEach((position, j) => (outcomes[position] = got[j]));
    });
    return outcomes;
  };

  const processEntries = async (entries: StreamEntry[], fresh: boolean, parsedAhead?: ParseResult<T>[]): Promise<void> => {
    const turn = settleTurn;
    let ended = (): void => {};
    settleTurn = new Promise<void>((resolve) => (ended = resolve));
    const ids = entries.map((e) => e.id);
    holding.add(ids);
    try {
      await processInTurn(entries, fresh, turn, parsedAhead);
    } finally {
      holding.delete(ids);
      ended();
    }
  };

  const processInTurn = async (entries: StreamEntry[], fresh: boolean, turn: Promise<void>, parsedAhead?: ParseResult<T>[]): Promise<void> => {
    // XREADGROUP '>' hands out entries never delivered before: their count is 1, no XPENDING needed (it returned a
    // row per entry, 2,000 a batch, for nothing). Claimed entries have been delivered before and are looked up.
    const attempts = fresh ? new Map<string, number>() : await deliveryCounts(redis, stream, group, consumer, entries.map((e) => e.id));
    const tries = (entry: StreamEntry) => attempts.get(entry.id) ?? 1;
    const letters: DeadLetter[] = [];
    const toDlq = (entry: StreamEntry, reason: Reason, message: string | undefined) => {
      letters.push({ entry, reason, attempts: tries(entry), ...(message === undefined ? {} : { error: message }) });
      metrics.inc('skytide_dead_letters_total', { stream: options.metricStream ?? options.stream, reason });
      log.warn('entry moved to the dlq', { stream: options.stream, id: entry.id, reason, attempts: tries(entry), message });
    };
    const parsed: { entry: StreamEntry; item: T }[] = [];
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i] as StreamEntry;
      const result = parsedAhead?.[i] ?? parseEntry(entry);
      if (!result.ok) {
        toDlq(entry, 'invalid_event', result.message);
        count('invalid');
      } else if (tries(entry) > CRASH_DELIVERIES_FACTOR * maxAttempts) {
        // Delivered again and again without ever reaching a verdict: it takes its consumer down with it.
        toDlq(entry, 'max_retries_exceeded', `delivered ${tries(entry)} times without an outcome`);
        count('dlq');
      } else parsed.push({ entry, item: result.value });
    }

    const outcomes = await runLanes(parsed.map((p) => p.item));
    // The batch read before this one settles first (its own failure is its step's, not this batch's).
    await turn;
    /** Entries of a lane that stopped while waiting out an outage: no outcome, their delivery taken back. */
    const left = new Map<string, number>();
    outcomes.forEach((isolated, i) => {
      if (isolated === undefined) left.set(parsed[i]!.entry.id, tries(parsed[i]!.entry) - 1);
    });
    if (left.size > 0) {
      // They stay pending to us (read back first by our next run, or claimed by another consumer once idle), never
      // nearer the DLQ for the stop.
      abandoned = true;
      await takeBack(left, 'a batch waiting out an outage');
    }

    const ack: string[] = [];
    /** Entries that wait on something unavailable: left pending with this delivery taken back. */
    const waiting = new Map<string, number>();
    /** Those of them that name what they wait on, moved out of the stream once settled (options.park). */
    const parking: { entry: StreamEntry; item: T; on: string }[] = [];
    outcomes.forEach((isolated, i) => {
      if (isolated === undefined) return;
      const { entry, item } = parsed[i]!;
      const outcome: ItemOutcome = isThrew(isolated) ? { status: 'retry', reason: 'handler_error', message: isolated.threw } : isolated;
      if (outcome.status === 'ok') {
        ack.push(entry.id);
        count('ok');
      } else if (outcome.status === 'dead') {
        toDlq(entry, outcome.reason, outcome.message);
        count('dead');
      } else if (outcome.status === 'wait') {
        waiting.set(entry.id, tries(entry) - 1);
        if (options.park !== undefined && outcome.on !== undefined) parking.push({ entry, item, on: outcome.on });
        count('wait');
      } else if (tries(entry) >= maxAttempts) {
        toDlq(entry, outcome.reason, outcome.message);
        count('dlq');
      } else {
        // Left pending: it comes back through XAUTOCLAIM once idle for claimIdleMs, one delivery more.
        count('retry');
      }
    });
    // Should this fail, the entries stay pending all the same, only with this delivery counted.
    if (waiting.size > 0) await setDeliveryCounts(redis, stream, group, consumer, waiting);
    // The batch before's settle first: a failure there fails this step (this batch stays pending, as after a crash).
    await settled();
    settleLater({ ack, letters }, parking);
  };

  if (!(await ensureGroupWaitingOutRefusals())) {
    log.info('consumer stopped', { stream: options.stream, consumer });
    return;
  }
  await pruneDeadConsumers();
  // A blocking XREADGROUP holds its connection: on the shared one it would stall every other loop and writer. Its
  // socket timeout allows for the BLOCK, so a read that waits out a quiet stream is not taken for a dead connection.
  const reader = createBlockingReader(redis, blockMs);
  /**
   * A read whose connection broke while it was out may have lost its reply: Redis delivered entries to us (pending
   * under our name, with ids above everything delivered before) that ioredis's resent read never shows; it returns
   * the entries after them. Processed now, a DID's later events would go in before the lost ones, which only
   * XAUTOCLAIM brought back, a claim later. So such a read is not processed: our pending entries above `lastSeen`
   * (the highest id we ever received; our retries are at or below it) are read again, the lost and the returned alike,
   * in id order, by the pass that reads a previous run's (ownFrom).
   */
  let readerBreaks = 0;
  reader.on('close', () => void readerBreaks++);
  let lastSeen = '0-0';
  const saw = (entries: readonly StreamEntry[]): void => {
    for (const e of entries) if (compareIds(e.id, lastSeen) > 0) lastSeen = e.id;
  };
  const readFresh = async (): Promise<FreshRead> => {
    const breaks = readerBreaks;
    const entries = await readNew(reader, stream, group, consumer, options.batchSize, blockMs);
    return { entries, broken: readerBreaks !== breaks };
  };
  const heartbeat = setInterval(refreshClaims, Math.max(1, Math.floor(claimIdleMs / 3)));
  heartbeat.unref();
  log.info('consumer started', { stream: options.stream, group, consumer });
  let lastClaim = 0;
  let claimFrom = '0-0';
  /**
   * Where the start's reading of our own pending entries goes on; undefined once they are all processed. A process
   * that died under this consumer name (the same INDEXER_CONSUMER, or hostname-pid in a restarted container) left
   * them: they are older than anything new, so they go first, whatever their idle time. Reading new entries first
   * would index a DID's later events before its earlier ones (an #account change is not guarded by the rev rule).
   */
  let ownFrom: string | undefined = '0-0';
  const redisDelays = createBackoff({ ...backoff, jitter: 'equal' });
  let recreateGroup = false;
  const startReadAhead = () => {
    const read = readFresh();
    // Parsed as soon as it arrives, in slices between the batch's own callbacks, rather than between batches with
    // the database idle.
    const next: NonNullable<typeof ahead> = {
      read,
      parsed: read.then(({ entries, broken }) => {
        next.entries = entries;
        return broken ? [] : parseInSlices(entries);
      }),
    };
    // Seen when awaited (the step's error handling); until then a failed read must not be an unhandled rejection.
    next.parsed.catch(() => {});
    ahead = next;
  };
  const parseInSlices = async (entries: readonly StreamEntry[]): Promise<ParseResult<T>[]> => {
    const parsed: ParseResult<T>[] = [];
    for (let i = 0; i < entries.length; i++) {
      if (i > 0 && i % PARSE_SLICE === 0) await new Promise((resolve) => setImmediate(resolve));
      parsed.push(parseEntry(entries[i] as StreamEntry));
    }
    return parsed;
  };
  const takeAhead = async (): Promise<(FreshRead & { parsed: ParseResult<T>[] }) | undefined> => {
    const next = ahead;
    ahead = undefined;
    return next === undefined ? undefined : { ...(await next.read), parsed: await next.parsed };
  };

  /**
   * How many pending entries to read or claim at once. An entry is given a verdict by its maxAttempts-th delivery at
   * the latest (a retry is dead-lettered then), so one delivered that often already has had a delivery end without
   * any (its process died, or a step failed). Such entries are read one at a time: read with their batch, an entry
   * that kills the process would take the batch's delivery counts up with its own, crash after crash, until the
   * whole batch passed CRASH_DELIVERIES_FACTOR * maxAttempts and went to the DLQ with it.
   */
  const pendingReadSize = async (next: Parameters<typeof mostDeliveries>[3]): Promise<number> =>
    (await mostDeliveries(redis, stream, group, next, options.batchSize)) >= maxAttempts ? 1 : options.batchSize;

  /** A read's connection broke (see readerBreaks): our pending entries above lastSeen are read again, in order. */
  const lostReadSuspected = async (returned: number): Promise<void> => {
    // The batches in flight first: the pass reads in its own turn, and settles of ours must not race it.
    await drained();
    ownFrom = lastSeen;
    log.warn('the reader\'s connection broke while a read was out: reading our pending entries again, so none whose reply was lost is overtaken', { stream: options.stream, returned, after: lastSeen });
  };

  const step = async (): Promise<void> => {
    if (recreateGroup) {
      await ensureGroup(redis, stream, group);
      recreateGroup = false;
      claimFrom = '0-0';
    }
    if (ownFrom !== undefined) {
      const size = await pendingReadSize({ consumer, after: ownFrom });
      const own = await readOwnPending(redis, stream, group, consumer, size, ownFrom);
      if (own.last === undefined) ownFrom = undefined;
      else {
        ownFrom = own.last;
        saw(own.entries);
        await forget(own.deleted);
        if (own.entries.length === 0) return;
        log.info('processing entries left pending by a previous run', { stream: options.stream, count: own.entries.length });
        await processEntries(own.entries, false);
        // One at a time, each settled before the next is read: an entry that kills the process takes none with it.
        if (size === 1) await settled();
        return;
      }
    }
    let entries: StreamEntry[] = [];
    let parsed: ParseResult<T>[] | undefined;
    // A PEL scan, once started, goes on every step until complete, so a crashed consumer's backlog is not rationed.
    if (claimFrom !== '0-0' || Date.now() - lastClaim >= claimIdleMs / 2) {
      // Our last batches' entries are acknowledged before the pending list is read, never claimed back by ourselves.
      await drained();
      await settled();
      const size = await pendingReadSize({ minIdleMs: claimIdleMs, start: claimFrom });
      const page = await claimIdle(redis, stream, group, consumer, claimIdleMs, size, claimFrom);
      claimFrom = page.next;
      if (claimFrom === '0-0') lastClaim = Date.now();
      await forget(page.deleted);
      entries = page.entries;
      saw(entries);
      if (entries.length > 0) log.info('claimed idle entries', { stream: options.stream, count: entries.length });
    }
    const claimed = entries.length > 0;
    if (!claimed) {
      const read: FreshRead & { parsed?: ParseResult<T>[] } = (await takeAhead()) ?? (await readFresh());
      if (read.broken) {
        await lostReadSuspected(read.entries.length);
        return;
      }
      ({ entries, parsed } = read);
      saw(entries);
    }
    if (options.readAhead === true && !claimed && entries.length >= options.batchSize) startReadAhead();
    if (claimed) {
      await drained();
      await processEntries(entries, false);
    } else if (entries.length > 0) await admit(processEntries(entries, true, parsed));
    else {
      await drained();
      await settled();
      if (options.onIdle !== undefined && (await pendingCount(redis, stream, group)) === 0) options.onIdle();
    }
  };

  try {
    while (!signal.aborted) {
      try {
        await step();
        options.beat?.();
        redisDelays.reset();
      } catch (err) {
        if (err instanceof InvariantError) throw err;
        if (signal.aborted) break;
        // Redis failed mid-step: whatever was read stays pending and is claimed again, so backing off is safe.
        // The stream key was deleted (by hand, or a reset): recreate it and the group rather than stop.
        if (/NOGROUP|UNBLOCKED/.test(describeError(err))) recreateGroup = true;
        const ms = redisDelays.next();
        log.error('consumer step failed; retrying', { stream: options.stream, err: describeError(err), retryInMs: ms });
        await sleep(ms, signal, options.beat);
      }
    }
    // Stopping: what was read ahead is processed too (its read returns at once on a backlog, within blockMs if the
    // backlog ended with the batch before), so a stop leaves no entries pending that only XAUTOCLAIM would bring
    // back; unless the stop came during an outage, which that batch would only wait out again: it stays pending, as
    // the batch before it, with its read taken back (new entries: no delivery before it).
    await drained();
    const last = await takeAhead().catch(() => undefined);
    if (last !== undefined && last.entries.length > 0) {
      // A read that may have lost a reply before it is left pending too: the next run's pass reads both in order.
      if (!abandoned && !last.broken) await processEntries(last.entries, true, last.parsed);
      else await takeBack(new Map(last.entries.map((e) => [e.id, 0])), 'the batch read ahead');
    }
    await settled();
  } finally {
    // A step that threw out of the loop (a broken contract) still lets the batches in flight end and the batch
    // before it be acknowledged.
    await drained().catch(() => {});
    await settling?.catch(() => {});
    clearInterval(heartbeat);
    reader.disconnect();
  }
  log.info('consumer stopped', { stream: options.stream, consumer });
}
