// The subscription core: one host's event stream (event-stream spec: com.atproto.sync.subscribeRepos,
// com.atproto.label.subscribeLabels) into Redis streams. The firehose adapter (long-runners/firehose) and the label
// subscriber plug in a handler that turns one message into writes; everything else is here, once.
// Promises:
// - Connects with the stored cursor (`<stream>:cursor:<host>`), else the initial cursor, else live, and reconnects
//   after every close with exponential backoff and full jitter, started over once a connection stayed up
//   `healthyAfterMs`.
// - Seqs only increase: a message whose seq is not above the highest one accepted for the host (the stored cursor on
//   connect, then what this connection accepted) is dropped whole (no entries, no resync, cursor untouched), counted
//   as `seq_not_increasing` and logged sampled; but the cursor's own seq as the first frame after connecting is a
//   resume the spec allows, counted as ignored only. A message with a seq moves the cursor past it whatever its handler
//   made of it; one without a seq never moves it.
// - A batch (batchSize entries, or batchTimeoutMs) is one atomic write: its entries, the handler's other writes and the
//   cursor, which a compare-and-set script only ever raises, so no process, crash or second connection lowers it. It
//   lands once even when ioredis sends it again after a reconnect that lost its reply (stream-writer.ts).
// - At the high-water mark of `stream` it stops reading the socket (ws.pause(): TCP pushes back on upstream) until
//   consumers bring the stream below the mark; a handler may hold reading for its own reasons (holdReason). It never
//   trims and never drops a frame it read.
// - Error frames end the connection. FutureCursor (upstream's sequence is behind our cursor: it was reset, or it is
//   another relay) is the one case where the cursor goes back: the stored cursor and the baseline are reset to 0 in
//   one step, logged at error with the old and new value, counted (`cursor_reset`), and upstream's window is
//   replayed. ConsumerTooSlow and other errors reconnect from the stored cursor. #info OutdatedCursor is counted and
//   logged with what the subscription says repairs the gap (`outdatedCursorRepair`). Every #info is counted; its log
//   line is sampled (the 1st, 10th, 100th...), so an upstream streaming them cannot flood the logs.
//   An upstream that sends SEQ_RESET_AFTER seqs in a row at or below the cursor on a connection, and none above it,
//   is treated as FutureCursor (counted `seq_reset`): indigo's relays answer a cursor past their sequence so. One
//   whose first seq above a stored cursor is not the next one resumed past it (counted `cursor_gap`, logged with the
//   seqs missed and the repair): indigo's relays answer a cursor older than their window so, without OutdatedCursor.
//   An upstream whose sequence has holes anyway (`seqHolesNormal`: labelers) is not counted so, only logged at debug.
// - On abort it writes everything it has read (entries and cursor), then returns. Redis refusing writes as a server
//   (out of memory, a read-only replica after a failover: adapters/redis/write-refusal.ts) is an outage: the batch is
//   held whole (reading stops meanwhile) and sent again with backoff, each wait on the outage board; stopped during
//   such a wait, it throws (StreamWriteError) naming what was not written, its cursor not raised, so the next run
//   reads it again. A stop while a write waits for a Redis that is down is logged with what that batch holds. Any
//   other write Redis refuses (a key of the wrong type) is counted `stream_write_failed` and throws (StreamWriteError)
//   to the supervisor. A frame it cannot use is counted and logged, never fatal.
// - Shards (STREAM_SHARDS > 1, `shards`): each shard of the stream keeps its own cursor for the host, raised in its own
//   MULTI with its own entries. The connection resumes from the lowest of them, and a message whose seq is at or below
//   its shard's stored cursor is already in that shard: it is skipped (counted as ignored), so a crash between two
//   shards' MULTIs neither loses nor duplicates anything.
// - Says when a connection opens and when it closes (onConnection), whatever closed it.
// - With `lease` (as `skytide run` wires it): one writer per host. It takes the host's lease (`<stream>:lease:<host>`,
//   SET NX PX, renewed every third of its TTL) before it connects; a second process for the host (an overlapping
//   deploy, two replicas) waits, says once who holds it (and through `onWait`), and takes over when the lease is
//   released (a stop) or expires (a crash). Two writers for one host rewrote each other's batches, and two releases
//   of one DID's parked frames trimmed frames parked since, never written. A holder that loses its lease (renewals
//   missed for a TTL, or another took it) closes its socket and writes nothing more (counted `lease_lost`), then waits
//   to hold it again; each batch begins with a guard of the lease's value (lease.ts, LEASE_GUARD), so a batch in
//   flight when the lease moved lands nowhere. Each time it takes the lease the handler's `resume` reads its memory
//   of Redis again.
// - A Redis that comes back with an older state (a restart from an older snapshot, a failover to a lagging replica)
//   holds a cursor below what this writer stored, and the seqs between are gone from it too: raising the cursor from
//   there with the next frames would step over them for good. Each batch begins with a guard of each cursor against
//   the value this writer last knew stored (cursor-store.ts, CURSOR_FLOOR); refused, nothing is written, it is logged
//   (warn, both values) and counted (`cursor_rolled_back`), the socket is closed, the handler's `resume` reads its
//   memory of Redis again, and it reconnects at once from the stored cursor, so upstream sends the lost seqs again.
// Must not: run a handler concurrently with itself or with `between` (both run in this one loop).
import type { Redis } from 'ioredis';
import type { CounterName, Log, Metrics } from '../../functions/ports.ts';
import { describeError } from '../../functions/errors.ts';
import type { OutageBoard } from '../../adapters/observability/outage-board.ts';
import { StreamWriteError } from '../../adapters/redis/stream-writer.ts';
import { writeRefusal } from '../../adapters/redis/write-refusal.ts';
import { decodeFrame, messageSeq } from '../../functions/atproto/frame.ts';
import { hostKey, type KeySpace } from '../../adapters/redis/keys.ts';
import { cursorBehindIn, cursorFloorOp, readSeqCursor, resetSeqCursor } from '../../adapters/redis/cursor-store.ts';
import { acquireLease, keepLease, leaseGuardOp, leaseLostIn, type Acquired, type KeptLease } from '../../adapters/redis/lease.ts';
import { createBackoff } from '../../functions/backoff.ts';
import { sleep } from '../sleep.ts';
import { waitOut } from '../wait-out.ts';
import type { NewStreamEntry } from '../../adapters/redis/stream-writer.ts';
import { createBatch, type Batch } from './batch.ts';
import { createProblemReporter, createSampler, type ReportProblem } from './problems.ts';
import { openFrameSource, type FrameSource } from './ws-source.ts';
import { subscribeUrl } from './subscribe-url.ts';

export type { Batch } from './batch.ts';

/** One sequenced message, framed: its `t`, its body, its seq when it has a valid one, and the frame's bytes. */
export interface SubscriptionMessage {
  t: string;
  body: Record<string, unknown>;
  seq: number | undefined;
  bytes: Uint8Array;
}

/** How a handler's message is counted in `<frames counter>{kind}`. */
export type MessageKind = 'sequenced' | 'ignored' | 'invalid' | 'deferred';

export interface SubscriptionHandler {
  /** Adds the writes one message makes to the batch (its seq is already known to be above every one before it). */
  onMessage(message: SubscriptionMessage, batch: Batch): Promise<MessageKind> | MessageKind;
  /**
   * Runs between batches (after each write, and at each batch timeout) with an empty batch, in the same loop as
   * `onMessage`; what it adds is written at once, without moving the cursor.
   */
  between?(batch: Batch, signal: AbortSignal): Promise<void>;
  /** A reason to stop reading the socket for now, checked between batches; undefined to keep reading. */
  holdReason?(): Promise<string | undefined> | string | undefined;
  /**
   * Runs each time the subscription takes its host's lease, before it connects: what the handler keeps in memory of
   * Redis (the identity waits) is read again, as another holder may have changed it meanwhile.
   */
  resume?(): Promise<void>;
}

/**
 * The simplest handler: each message becomes stream entries, or undefined for one to ignore (an unknown `t`). A
 * subscription that needs nothing else (subscribeLabels into label_live) plugs in a stream, a cursor key, an NSID and
 * this. `onWritten` runs for each entry once its batch is written (to count it).
 */
export function entriesHandler(
  toEntries: (message: SubscriptionMessage) => readonly NewStreamEntry[] | undefined,
  onWritten?: (entry: NewStreamEntry) => void,
): SubscriptionHandler {
  return {
    onMessage(message, batch) {
      const entries = toEntries(message);
      if (entries === undefined) return 'ignored';
      for (const entry of entries) batch.append(entry, onWritten === undefined ? undefined : () => onWritten(entry));
      return 'sequenced';
    },
  };
}

/** Reconnect delays; a connection that lived `healthyAfterMs` starts them over from `baseMs`. */
export interface ReconnectBackoff {
  baseMs: number;
  maxMs: number;
  healthyAfterMs: number;
}

export const DEFAULT_RECONNECT: ReconnectBackoff = { baseMs: 500, maxMs: 60_000, healthyAfterMs: 30_000 };
/** Ping interval that finds a dead connection; a missing pong by the next ping ends it. */
export const DEFAULT_HEARTBEAT_MS = 10_000;
/** How often, at most, the stream length is read for backpressure. */
export const DEFAULT_LENGTH_CHECK_MS = 1000;
/** The socket's read queue, bounded in frames and in bytes (a repo frame can be 5 MB). */
export const MAX_QUEUED_FRAMES = 1000;
export const MAX_QUEUED_BYTES = 16 * 1024 * 1024;
/**
 * ws refuses a message this much over the largest frame we accept by closing the connection (1009, before it buffers
 * the rest); below that a frame over the limit is read, counted as too_big and passed. A frame ws refused is counted
 * as too_big too, and its seq (never read) is searched for by reconnecting at probe cursors, so that exactly it is
 * skipped (see `search`).
 */
export const WS_PAYLOAD_SLACK_BYTES = 1024 * 1024;
/**
 * Frames in a row at or below the cursor, with none above it yet on the connection, after which upstream's sequence
 * is taken to have gone back (it was reset, or it is another relay) as if it had answered FutureCursor. A relay that
 * honours the cursor sends none (at most the cursor's own seq again), but indigo's relays answer a cursor past their
 * sequence with live events below it and no FutureCursor (indigo#1328): without this the connection would drop
 * every frame and the cursor would never move. A hundred leaves room for a few stray replays and costs a second of
 * a busy relay at most.
 */
export const SEQ_RESET_AFTER = 100;
/**
 * A probe for a refused frame (see `search`) that reads nothing this long is past it: upstream sends its backlog
 * at once on connect, so a refused frame above the probe's cursor would have closed it already. Wrong only for a
 * slow upstream, and then harmlessly: the search goes on below, and only seqs proven empty are ever skipped.
 */
export const PROBE_QUIET_MS = 2000;
/** Delays between sends of a batch while Redis refuses writes (a failover takes seconds; memory, until consumers drain). */
export const REFUSAL_BACKOFF = { baseMs: 250, maxMs: 10_000 } as const;
/**
 * Life of a host's subscription lease without renewal: a crashed holder's host is taken over after at most this (a
 * stopped one releases it at once). Long enough that a busy event loop or a Redis failover of seconds loses nothing.
 */
export const SUBSCRIPTION_LEASE_TTL_MS = 15_000;

/** The one-writer-per-host lease of a subscription (its key is the adapter's: keys.lease). */
export interface SubscriptionLease {
  /** This process, as named in the lease (the consumer name). */
  holder: string;
  /** SUBSCRIPTION_LEASE_TTL_MS unless given. */
  ttlMs?: number;
  /** Hears who holds the lease while this one waits for it (null: unknown), and undefined once this one holds it. */
  onWait?: (holder: string | null | undefined) => void;
}

/** Redis holds a lower cursor than this writer stored (it lost writes): the batch was refused, nothing written. */
class CursorBehindError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CursorBehindError';
  }
}

/** The lease was lost (or its guard refused a batch): this writer stops writing for the host. */
export class LeaseLostError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LeaseLostError';
  }
}

export interface SubscriptionOptions {
  redis: Redis;
  /** As configured: a scheme (http:// means ws://) and a trailing slash are allowed. */
  host: string;
  nsid: string;
  /** Full key of the stream held under the high-water mark. */
  stream: string;
  /** Full key of the seq cursor. */
  cursorKey: string;
  highWaterMark: number;
  batchSize: number;
  batchTimeoutMs: number;
  /** Where to start when no cursor is stored; absent: live. */
  initialCursor?: number;
  /** Largest frame accepted, in bytes; larger ones are counted as too_big. */
  maxFrameBytes: number;
  /**
   * What repairs the events an `#info OutdatedCursor` says were missed (upstream's window no longer reaches the
   * cursor), named in its log line: each stream has its own answer (repos: a sweep; labels: nothing). Absent: none.
   */
  outdatedCursorRepair?: string;
  /**
   * Why a resume past the cursor asked for is normal for this upstream, when it is: then it is logged at debug and not
   * counted as `cursor_gap`. Ozone's label ids have holes (a label applied again takes a new id, its old one gone).
   */
  seqHolesNormal?: string;
  log: Log;
  metrics: Metrics;
  /** Counters with labels {host, kind} and {host, reason}. */
  counters: { frames: CounterName; errors: CounterName };
  /** Shared with the handler, so both count and sample the same way; made from `counters.errors` when absent. */
  report?: ReportProblem;
  signal: AbortSignal;
  lengthCheckIntervalMs?: number;
  backoff?: ReconnectBackoff;
  heartbeatMs?: number;
  /** Where waits for a Redis that refuses writes are reported, as `waiter` (the task's name). */
  outageBoard?: { board: OutageBoard; waiter: string };
  /** Delays between sends of a batch Redis refused (REFUSAL_BACKOFF unless given). */
  refusalBackoff?: { baseMs: number; maxMs: number };
  /**
   * The supervisor's beat (supervisor.ts): on every read of the socket that returns (a frame, or the batch timeout of
   * a quiet connection), every check while paused (backpressure, the handler's hold), every wait (a reconnect's
   * backoff, Redis refusing a batch). A write or a handler that never settles beats nothing.
   */
  beat?: () => void;
  /**
   * Hears the socket's state: true once a connection is open (the handshake done), false once it has closed, for
   * whatever reason (upstream, a reconnect, a stop, a throw). The `*_connected` gauges.
   */
  onConnection?: (open: boolean) => void;
  /** One writer per host: the lease taken before connecting (absent: none, as tests of one writer run). */
  lease?: SubscriptionLease & { key: string };
  /** SEQ_RESET_AFTER unless given. */
  seqResetAfter?: number;
  /** PROBE_QUIET_MS unless given. */
  probeQuietMs?: number;
  /**
   * The stream split by DID (STREAM_SHARDS), or written to a Redis Cluster: the cursor keys of every shard for this
   * host (they replace `cursorKey`), the shards' stream keys (their lengths are summed against the high-water mark),
   * the shard a message belongs to (undefined: none, e.g. an #info), and whether keys are hash-tagged (one MULTI per
   * slot).
   */
  shards?: {
    cursorKeys: readonly string[];
    streams: readonly string[];
    shardOf: (message: { t: string; body: Record<string, unknown> }) => number | undefined;
    tagged: boolean;
  };
}

/** What the firehose ingester and the label subscriber are both started with (each adds its own). */
export type SubscriberOptions = Pick<
  SubscriptionOptions,
  'redis' | 'host' | 'highWaterMark' | 'batchSize' | 'batchTimeoutMs' | 'initialCursor' | 'log' | 'metrics' | 'signal'
  | 'lengthCheckIntervalMs' | 'backoff' | 'heartbeatMs' | 'outageBoard' | 'refusalBackoff' | 'beat' | 'onConnection'
> & { keys: KeySpace; lease?: SubscriptionLease };

type FrameResult = 'ok' | { reconnect: string; reset: boolean };
type Hold = { kind: 'backpressure'; length: number } | { kind: 'handler'; why: string };

export async function runSubscription(o: SubscriptionOptions, handler: SubscriptionHandler): Promise<void> {
  const lease = o.lease;
  if (lease === undefined) return runHeld(o, handler, undefined);
  const hostLabel = hostKey(o.host);
  while (!o.signal.aborted) {
    const kept = await holdLease(o, lease);
    if (kept === undefined) break;
    let lost: string | undefined;
    try {
      await handler.resume?.();
      // Losing the lease stops this run as a stop request would, but without the flush on stop (runHeld).
      await runHeld({ ...o, signal: AbortSignal.any([o.signal, kept.lost]) }, handler, kept);
    } catch (err) {
      // Whatever the run met once its lease was gone (a write refused by the guard, a wait cut short) is that loss.
      if (!(err instanceof LeaseLostError) && !kept.lost.aborted) throw err;
      lost = describeError(err);
    } finally {
      await kept.release();
    }
    if (lost === undefined && kept.lost.aborted && !o.signal.aborted) lost = describeError(kept.lost.reason);
    if (lost !== undefined) {
      o.metrics.inc(o.counters.errors, { host: hostLabel, reason: 'lease_lost' });
      o.log.error('subscription lease lost: socket closed, nothing more written for this host; waiting to hold the lease again', { host: o.host, key: lease.key, why: lost });
    }
  }
}

/** Takes the host's lease, waiting while another holds it (said once); undefined when stopped first. */
async function holdLease(o: SubscriptionOptions, lease: SubscriptionLease & { key: string }): Promise<KeptLease | undefined> {
  const ttlMs = lease.ttlMs ?? SUBSCRIPTION_LEASE_TTL_MS;
  const sampleFailure = createSampler();
  let waited = false;
  while (!o.signal.aborted) {
    let got: Acquired | undefined;
    try {
      got = await acquireLease(o.redis, lease.key, lease.holder, ttlMs);
    } catch (err) {
      const occurrences = sampleFailure('acquire');
      // A Redis refusing writes (out of memory, read-only) refuses the lease's SET too: the outage /ready names, as a
      // batch's would be once connected.
      const refused = writeRefusal(err);
      if (refused !== undefined) o.outageBoard?.board.waiting(o.outageBoard.waiter, 'redis', refused);
      if (occurrences !== undefined) o.log.warn('subscription lease: redis did not answer', { host: o.host, key: lease.key, err: describeError(err), occurrences });
    }
    if (got !== undefined) o.outageBoard?.board.resumed(o.outageBoard.waiter);
    if (got?.acquired === true) {
      if (waited) o.log.info('subscription lease taken: this process writes for the host now', { host: o.host, key: lease.key });
      lease.onWait?.(undefined);
      return keepLease(o.redis, got.lease, o.log);
    }
    if (got !== undefined) {
      if (!waited) o.log.warn('another process holds this host\'s subscription lease: waiting to take over', { host: o.host, key: lease.key, holder: got.holder, ttlMs });
      waited = true;
      lease.onWait?.(got.holder);
    }
    await sleep(Math.max(1, Math.floor(ttlMs / 3)), o.signal, o.beat);
  }
  return undefined;
}

/** The subscription itself, for as long as `o.signal` lets it (with `held`: while it holds the host's lease). */
async function runHeld(o: SubscriptionOptions, handler: SubscriptionHandler, held: KeptLease | undefined): Promise<void> {
  const { redis, host, log, metrics, signal } = o;
  const leaseGuards = held === undefined ? [] : [leaseGuardOp(held.lease)];
  /**
   * Per cursor key, the value this writer last knew stored (read on connect, answered by each write): a batch is
   * refused when Redis holds less (CURSOR_FLOOR), as after a restart from an older snapshot.
   */
  const storedByKey = new Map<string, number>();
  const guards = () => [...leaseGuards, ...[...storedByKey].map(([key, floor]) => cursorFloorOp(key, floor))];
  /** A holder that lost its lease writes nothing more, not even what it has read (the next holder reads it again). */
  const stillHeld = () => {
    if (held?.lost.aborted === true) throw new LeaseLostError(`the subscription lease of ${host} was lost: nothing more is written`, { cause: held.lost.reason });
  };
  const hostLabel = hostKey(host);
  const report = o.report ?? createProblemReporter({ metrics, counter: o.counters.errors, host, hostLabel, log, msg: 'subscription frame problem' });
  const reconnect = o.backoff ?? DEFAULT_RECONNECT;
  const delays = createBackoff(reconnect);
  const lengthEveryMs = o.lengthCheckIntervalMs ?? DEFAULT_LENGTH_CHECK_MS;
  const sampleAhead = createSampler();
  /** #info frames are counted each, logged sampled (problems.ts): upstream decides how many it sends. */
  const sampleInfo = createSampler();
  const batch = createBatch();
  const countFrame = (kind: MessageKind | 'info' | 'error') => metrics.inc(o.counters.frames, { host: hostLabel, kind });
  /** The highest seq accepted for this host: nothing at or below it is taken again. */
  let baseline: number | undefined;
  let batchStartedAt = 0;
  let lastHoldCheck = 0;
  const cursorKeys = o.shards?.cursorKeys ?? [o.cursorKey];
  const lengthKeys = o.shards?.streams ?? [o.stream];
  /** Per shard, the cursor stored when the connection opened: that shard holds every message at or below it. */
  let floors: (number | undefined)[] = [];

  const readCursors = async () => {
    const stored = await Promise.all(cursorKeys.map((key) => readSeqCursor(redis, key)));
    floors = stored;
    // What Redis holds now is what later writes are checked against (a value read is one this writer may build on).
    storedByKey.clear();
    stored.forEach((n, i) => {
      if (n !== undefined) storedByKey.set(cursorKeys[i]!, n);
    });
    const known = stored.filter((n): n is number => n !== undefined);
    // The lowest shard cursor: every shard has everything up to it. Shards without a cursor yet take it as theirs.
    return known.length === 0 ? undefined : Math.min(...known);
  };
  const seqResetAfter = o.seqResetAfter ?? SEQ_RESET_AFTER;
  /** On this connection: whether a seq above the cursor came, and how many at or below it came in a row before that. */
  let acceptedOnConnection = false;
  let behindInARow = 0;
  /** The cursor this connection asked for, and whether a message with a seq came on it yet. */
  let connectedWith: number | undefined;
  let seqOnConnection = false;
  /** Whether this connection's first seq above the cursor was checked for a gap after the cursor it asked for. */
  let resumeChecked = false;
  /**
   * The search for a frame ws refused (1009), whose seq is never read. It is the first frame after `lo` (so no seq in
   * between carries one), and at or below `hi` once a probe connection at `hi` read another frame first. Probes past
   * `lo` step 1, 2, 4, ... until one reads a frame, then halve (lo, hi] until hi = lo + 1: hi is its seq. So only that
   * frame is skipped, in about 2 log2(gap) reconnects, where a step of one per reconnect took one per seq of a gap.
   * A probe answered FutureCursor is past upstream's head, so the frame is below it too (hi = probe), not a reset.
   * Known limit: a second refused frame within the gap searched makes a probe past the first one close too, and the
   * frames between the two are then skipped with the first; the search would need a second kind of probe to tell.
   */
  let search: { lo: number; hi: number | undefined; step: number; probe: number } | undefined;

  /** The batch being written, while its write waits for Redis's answer. */
  let writing: { entries: number; seq: number | undefined } | undefined;
  // A stop while a write waits for a Redis that is down (ioredis holds the command for the reconnect) cannot flush in
  // time: the supervisor names the task when its timeout passes, and this says what it leaves. Written if Redis answers
  // before the process ends; otherwise the stored cursor stays before it and the next run reads it again.
  const onStop = () => {
    if (writing !== undefined) log.warn('stop requested while a batch waits for redis', { host, entries: writing.entries, seq: writing.seq ?? null });
  };
  signal.addEventListener('abort', onStop, { once: true });
  /**
   * Writes the batch; while Redis refuses writes, holds it whole and sends it again (nothing of it was written). A stop
   * during a wait tries once more, the flush on stop, before it throws.
   */
  const writeWaitingOutRefusals = async (): Promise<number | undefined> => {
    const written = await waitOut(
      async () => {
        stillHeld();
        writing = { entries: batch.size, seq: batch.seq };
        try {
          const seq = batch.seq;
          const stored = await batch.flush(redis, cursorKeys, o.shards?.tagged ?? false, guards()).finally(() => (writing = undefined));
          // Every cursor key was raised with it (one per shard), to `seq` at least: the lowest answer stands for all.
          if (seq !== undefined && stored !== undefined) for (const key of cursorKeys) storedByKey.set(key, Math.max(storedByKey.get(key) ?? 0, stored));
          return stored;
        } catch (err) {
          if (leaseLostIn(err)) throw new LeaseLostError(`a batch of ${host} was refused: the subscription lease is no longer this writer's`, { cause: err });
          if (cursorBehindIn(err)) throw new CursorBehindError(describeError(err), { cause: err });
          // Not an outage (a key of the wrong type, refused whole by the batch script): counted by host, then the task
          // ends on it with the batch unwritten and the cursor before it.
          if (writeRefusal(err) === undefined) report('stream_write_failed', 1, { entries: batch.size, seq: batch.seq ?? null, err: describeError(err) });
          throw err;
        }
      },
      {
        outage: writeRefusal, backoff: o.refusalBackoff ?? REFUSAL_BACKOFF, signal, lastTryOnStop: true, beat: o.beat,
        warn: ({ waits, why }) => log.warn('redis refuses writes: the batch waits', { host, entries: batch.size, seq: batch.seq ?? null, refusals: waits, err: why }),
        onWait: ({ why }) => o.outageBoard?.board.waiting(o.outageBoard.waiter, 'redis', why),
      },
    );
    if ('stopped' in written) {
      o.outageBoard?.board.resumed(o.outageBoard.waiter);
      throw new StreamWriteError(
        `stopped while Redis refuses writes (${written.why}): ${batch.size} entries of ${host} up to seq ${batch.seq ?? 'none'} were not written, and the cursor stays before them (the next run reads them again)`,
        { cause: written.err },
      );
    }
    if (written.waits > 0) log.info('redis takes writes again: batch written', { host, refusals: written.waits });
    o.outageBoard?.board.resumed(o.outageBoard.waiter);
    return written.value;
  };

  const flush = async () => {
    const stored = await writeWaitingOutRefusals();
    if (stored !== undefined && (baseline === undefined || stored > baseline)) {
      // Another writer for this host (a second connection or process) stands further on: never go back behind it.
      const occurrences = sampleAhead('ahead');
      if (occurrences !== undefined) log.warn('cursor stands past this connection: another writer for this host', { host, ours: baseline, stored, occurrences });
      baseline = stored;
    }
  };

  const between = async () => {
    if (handler.between === undefined) return;
    await handler.between(batch, signal);
    if (!batch.empty) await flush();
  };

  const holdNeeded = async (): Promise<Hold | undefined> => {
    const lengths = await Promise.all(lengthKeys.map((key) => redis.xlen(key)));
    const length = lengths.reduce((a, b) => a + b, 0);
    if (length >= o.highWaterMark) return { kind: 'backpressure', length };
    const why = await handler.holdReason?.();
    return why === undefined ? undefined : { kind: 'handler', why };
  };

  /** Holds the socket while the stream is at its high-water mark or the handler asks; returns once neither holds. */
  const respectHolds = async (source: FrameSource, force: boolean) => {
    const now = Date.now();
    if (!force && now - lastHoldCheck < lengthEveryMs) return;
    lastHoldCheck = now;
    let hold = await holdNeeded();
    if (hold === undefined) return;
    source.hold('paused');
    log.warn('subscription paused', { host, ...(hold.kind === 'backpressure' ? { length: hold.length, highWaterMark: o.highWaterMark } : { why: hold.why }) });
    while (hold !== undefined && !signal.aborted) {
      await sleep(lengthEveryMs, signal, o.beat);
      // A handler's own hold is lifted by its own work between batches; backpressure only by the consumers.
      if (hold.kind === 'handler') await between();
      hold = await holdNeeded();
    }
    source.release('paused');
    log.info('subscription resumed', { host });
  };

  const onFrame = async (bytes: Uint8Array): Promise<FrameResult> => {
    if (bytes.length > o.maxFrameBytes) {
      countFrame('invalid');
      report('too_big', 1, { message: `frame is ${bytes.length} bytes, over the ${o.maxFrameBytes} byte limit` });
      return 'ok';
    }
    const frame = decodeFrame(bytes);
    switch (frame.kind) {
      case 'invalid':
        countFrame('invalid');
        report(frame.reason ?? 'invalid_frame', 1, { message: frame.message });
        return 'ok';
      case 'unknown_op':
        countFrame('ignored');
        report('unknown_op');
        return 'ok';
      case 'error':
        countFrame('error');
        if (frame.error === 'FutureCursor') {
          report('future_cursor', 1, { message: frame.message });
          return { reconnect: frame.error, reset: true };
        }
        report(frame.error === 'ConsumerTooSlow' ? 'consumer_too_slow' : 'error_frame', 1, { error: frame.error, message: frame.message });
        return { reconnect: frame.error, reset: false };
      case 'message':
        break;
    }
    const { t, body } = frame;
    if (t === '#info') {
      const name = body['name'];
      const message = typeof body['message'] === 'string' ? body['message'] : undefined;
      if (typeof name !== 'string') {
        countFrame('invalid');
        report('invalid_frame', 1, { message: '#info without a name' });
      } else if (name === 'OutdatedCursor') {
        countFrame('info');
        report('outdated_cursor', 1, { message });
        const repair = o.outdatedCursorRepair;
        const occurrences = sampleInfo('outdated_cursor');
        if (occurrences !== undefined) log.warn('cursor older than upstream window: events were missed', { host, message, occurrences, ...(repair === undefined ? {} : { repair }) });
      } else {
        countFrame('info');
        // Sampled under one key, not per name: the names are upstream's to choose.
        const occurrences = sampleInfo('info');
        if (occurrences !== undefined) log.info('subscription info message', { host, name, message, occurrences });
      }
      return 'ok';
    }
    const seq = messageSeq(body);
    const firstSeq = seq !== undefined && !seqOnConnection;
    if (seq !== undefined) seqOnConnection = true;
    if (firstSeq && seq === connectedWith) {
      // The event-stream spec lets a server resume at the cursor's own seq ("greater-or-equal"): already ours.
      countFrame('ignored');
      return 'ok';
    }
    if (seq !== undefined && baseline !== undefined && seq <= baseline) {
      countFrame('invalid');
      report('seq_not_increasing', 1, { t, seq, last: baseline });
      if (!acceptedOnConnection && ++behindInARow >= seqResetAfter) {
        // Upstream streams below our cursor without saying FutureCursor: treated as if it had said it.
        report('seq_reset', 1, { seq, last: baseline, inARow: behindInARow });
        log.error('upstream sends only seqs at or below our cursor, without FutureCursor: its sequence went back', { host, seq, cursor: baseline, inARow: behindInARow });
        return { reconnect: 'seq_reset', reset: true };
      }
      return 'ok';
    }
    if (seq !== undefined && !resumeChecked) {
      resumeChecked = true;
      if (connectedWith !== undefined && connectedWith > 0 && !probing() && seq > connectedWith + 1) reportGap(connectedWith, seq);
    }
    if (seq !== undefined && o.shards !== undefined) {
      const shard = o.shards.shardOf({ t, body });
      const floor = shard === undefined ? undefined : floors[shard];
      if (floor !== undefined && seq <= floor) {
        // Its shard wrote it before a restart that came between two shards' MULTIs: it is there already.
        countFrame('ignored');
        baseline = seq;
        batch.seq = seq;
        return 'ok';
      }
    }
    countFrame(await handler.onMessage({ t, body, seq, bytes }, batch));
    if (seq !== undefined) {
      acceptedOnConnection = true;
      baseline = seq;
      batch.seq = seq;
    }
    return 'ok';
  };

  /**
   * Upstream resumed past the cursor we asked for: the seqs between never came. indigo's relays answer a cursor older
   * than their window from their oldest event without #info OutdatedCursor, so this is the only sign of that gap.
   * Counted and logged with the repair, never fatal; a PDS whose deleted accounts' events are gone leaves such gaps
   * too, harmlessly (a sweep then finds nothing to fetch).
   */
  const reportGap = (asked: number, first: number) => {
    if (o.seqHolesNormal !== undefined) {
      log.debug('upstream resumed past our cursor, as its sequence has holes', { host, cursor: asked, firstSeq: first, why: o.seqHolesNormal });
      return;
    }
    metrics.inc(o.counters.errors, { host: hostLabel, reason: 'cursor_gap' });
    const repair = o.outdatedCursorRepair;
    log.warn('upstream resumed past our cursor: the seqs between were not received', {
      host, cursor: asked, firstSeq: first, missedSeqs: first - asked - 1, ...(repair === undefined ? {} : { repair }),
    });
  };

  /** Whether the connection is a probe of `search` that has read nothing yet. */
  const probing = () => search !== undefined && connectedWith === search.probe && !acceptedOnConnection;

  /**
   * ws closed the connection on a frame over the payload limit (see `search`). Everything before it was accepted (the
   * socket is read in order), so it is the first frame after `baseline`, or after the probe's cursor. The stored
   * cursor is raised to the new `lo` (the seqs passed carry no frame) and the next probe chosen. Counted once per
   * frame as too_big; returns false when there is no cursor (a live connection: the reconnect is live too and will
   * not see the frame again).
   */
  const skipOversized = async (): Promise<boolean> => {
    if (search !== undefined && probing()) {
      search.lo = search.probe;
      if (search.hi === undefined) search.step *= 2;
      // lo rose to meet hi: the refused frame is hi. Asked for again, the probe would be lo and meet the frame
      // forever (each reconnect with no backoff, nothing after it ever written).
      else if (search.hi - search.lo <= 1) {
        await passRefused(search.hi);
        return true;
      }
    } else {
      countFrame('invalid');
      report('too_big', 1, { message: `a frame over the ${o.maxFrameBytes + WS_PAYLOAD_SLACK_BYTES} byte payload limit closed the connection (1009)`, after: baseline ?? null });
      if (baseline === undefined) return false;
      search = { lo: baseline, hi: undefined, step: 1, probe: baseline };
    }
    const stored = await readCursors();
    if (stored === undefined || stored < search.lo) {
      log.warn('cursor raised past seqs that carry no frame, before a frame over the payload limit', { host, from: stored ?? null, to: search.lo });
      batch.seq = search.lo;
      await flush();
    }
    search.probe = search.hi === undefined ? search.lo + search.step : Math.floor((search.lo + search.hi) / 2);
    return true;
  };

  /** The refused frame is `seq`: the search ends, and the stored cursor is raised to it so no connection asks for it again. */
  const passRefused = async (seq: number) => {
    log.warn('frame over the payload limit skipped', { host, seq });
    search = undefined;
    batch.seq = seq;
    await flush();
  };

  /**
   * A probe was answered with something other than the refused frame: the refused frame is at or below the probe's
   * cursor. Returns the refused frame's seq once the search has found it, else undefined (close and probe lower).
   */
  const narrowBelowProbe = (): number | undefined => {
    const s = search!;
    s.hi = s.probe;
    if (s.hi - s.lo > 1) {
      s.probe = Math.floor((s.lo + s.hi) / 2);
      return undefined;
    }
    search = undefined;
    return s.hi;
  };

  /** A frame read on a probe. False: close and probe lower. */
  const probeRead = (): boolean => {
    const found = narrowBelowProbe();
    if (found === undefined) return false;
    // Found: the refused frame is seq hi, already behind this connection's cursor; it goes on from here.
    log.warn('frame over the payload limit skipped', { host, seq: found });
    return true;
  };

  /**
   * FutureCursor answered a probe: upstream's head is below the probe, so the refused frame is too. Not a reset of
   * upstream's sequence, which resetting the cursor to 0 took it for, at every probe past the head.
   */
  const probePastHead = async () => {
    const found = narrowBelowProbe();
    if (found !== undefined) await passRefused(found);
  };

  /**
   * Redis lost writes (CURSOR_FLOOR refused a batch): what was read is dropped unwritten, and the next connection
   * starts from the stored cursor, so upstream sends the lost seqs and these again. No backoff: nothing failed upstream.
   */
  const rolledBack = async (err: CursorBehindError) => {
    const ours = Math.max(...storedByKey.values());
    batch.discard();
    const stored = await readCursors();
    metrics.inc(o.counters.errors, { host: hostLabel, reason: 'cursor_rolled_back' });
    log.warn('redis holds an older cursor than this writer stored (a restart from an older snapshot, a failover to a lagging replica): resuming from the stored cursor so upstream sends the lost seqs again', {
      host, stored: stored ?? null, written: ours, err: err.message,
    });
    await handler.resume?.();
    delays.reset();
  };

  /** FutureCursor: the only way the cursor goes back, on purpose and in plain sight. */
  const resetCursor = async () => {
    stillHeld();
    const old = await readCursors();
    // Refused as a batch is (a read-only replica, out of memory): waited out, not the task's end. Each try resets
    // every key again, so a reset refused part-way is finished.
    const reset = await waitOut(
      async () => {
        stillHeld();
        for (const key of cursorKeys) await resetSeqCursor(redis, key, 0);
      },
      {
        outage: writeRefusal, backoff: o.refusalBackoff ?? REFUSAL_BACKOFF, signal, beat: o.beat,
        warn: ({ waits, why }) => log.warn('redis refuses writes: the cursor reset waits', { host, refusals: waits, err: why }),
        onWait: ({ why }) => o.outageBoard?.board.waiting(o.outageBoard.waiter, 'redis', why),
      },
    );
    o.outageBoard?.board.resumed(o.outageBoard.waiter);
    if ('stopped' in reset) {
      log.warn('stopped while Redis refuses writes: the cursor was not reset, and the next run meets FutureCursor again', { host, err: reset.why });
      return;
    }
    floors = cursorKeys.map(() => 0);
    for (const key of cursorKeys) storedByKey.set(key, 0);
    baseline = 0;
    metrics.inc(o.counters.errors, { host: hostLabel, reason: 'cursor_reset' });
    log.error('upstream sequence is behind our cursor: cursor reset to replay its window', { host, old: old ?? null, new: 0 });
  };

  while (!signal.aborted) {
    try {
      const stored = await readCursors();
      // Another writer moved past the search's floor: it is over.
      if (search !== undefined && stored !== undefined && stored > search.lo) search = undefined;
      const cursor = search?.probe ?? stored ?? o.initialCursor;
      baseline = cursor;
      const source = openFrameSource(subscribeUrl(host, o.nsid, cursor), {
        maxQueuedFrames: MAX_QUEUED_FRAMES,
        maxQueuedBytes: MAX_QUEUED_BYTES,
        heartbeatMs: o.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
        maxPayloadBytes: o.maxFrameBytes + WS_PAYLOAD_SLACK_BYTES,
      });
      const connectedAt = Date.now();
      acceptedOnConnection = false;
      behindInARow = 0;
      connectedWith = cursor;
      seqOnConnection = false;
      resumeChecked = false;
      let why = 'closed';
      let reset = false;
      let oversized = false;
      let probed = false;
      const onAbort = () => source.close();
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        // Only the socket's own failures mean "reconnect"; a handler's or a write's throw ends the task.
        const opened = await source.opened.then(
          () => true,
          (err: unknown) => {
            why = describeError(err);
            return false;
          },
        );
        if (opened) {
          o.onConnection?.(true);
          log.info('subscription connected', { host, nsid: o.nsid, cursor: cursor ?? 'live' });
          batchStartedAt = Date.now();
          for (;;) {
            const next = await source.next(Math.max(1, o.batchTimeoutMs - (Date.now() - batchStartedAt)));
            o.beat?.();
            if (next.kind === 'closed') {
              why = next.reason;
              oversized = next.oversized;
              break;
            }
            if (next.kind === 'timeout' && probing() && Date.now() - connectedAt >= (o.probeQuietMs ?? PROBE_QUIET_MS) && !probeRead()) {
              why = 'probe for a frame over the payload limit: quiet';
              probed = true;
              break;
            }
            if (next.kind === 'text') {
              countFrame('invalid');
              report('invalid_frame', 1, { message: 'a text frame (the event stream is binary only)' });
            } else if (next.kind === 'frame') {
              if (probing() && isEvent(next.bytes, o.maxFrameBytes) && !probeRead()) {
                why = 'probe for a frame over the payload limit';
                probed = true;
                break;
              }
              const result = await onFrame(next.bytes);
              if (result !== 'ok') {
                // Upstream closes after an error frame; nothing after it belongs to this connection.
                why = result.reconnect === 'seq_reset' ? 'seqs went back' : `error frame ${result.reconnect}`;
                reset = result.reset;
                break;
              }
            }
            const due = Date.now() - batchStartedAt >= o.batchTimeoutMs;
            if (batch.size >= o.batchSize || (due && !batch.empty)) {
              await flush();
              await between();
              await respectHolds(source, true);
              batchStartedAt = Date.now();
            } else if (due) {
              batchStartedAt = Date.now();
              await between();
              await respectHolds(source, false);
            }
          }
        }
      } finally {
        signal.removeEventListener('abort', onAbort);
        source.close();
        o.onConnection?.(false);
      }
      // Every frame read from this connection is written before reconnecting or stopping.
      await flush();
      if (reset && probing()) {
        await probePastHead();
        probed = true;
      } else if (reset) await resetCursor();
      // Not a failure of the connection: the reconnect goes on at once, past the frame, with no growing backoff.
      if ((oversized && (await skipOversized())) || probed) delays.reset();
      if (signal.aborted) break;
      if (Date.now() - connectedAt >= reconnect.healthyAfterMs) delays.reset();
      const delay = delays.next();
      log.warn('subscription disconnected', { host, reason: why, reconnectInMs: delay });
      await sleep(delay, signal, o.beat);
    } catch (err) {
      if (!(err instanceof CursorBehindError)) throw err;
      await rolledBack(err);
    }
  }
  signal.removeEventListener('abort', onStop);
  // Every frame read was flushed above with its cursor: the stored cursor stands at least at `cursor`.
  log.info('subscription stopped', { host, nsid: o.nsid, cursor: baseline ?? null });
}

/** A frame that stands in the sequence (not an error frame, #info or an unknown op): a probe that reads one first has passed the refused frame. */
function isEvent(bytes: Uint8Array, maxFrameBytes: number): boolean {
  if (bytes.length > maxFrameBytes) return true;
  const frame = decodeFrame(bytes);
  return frame.kind === 'invalid' || (frame.kind === 'message' && frame.t !== '#info');
}
