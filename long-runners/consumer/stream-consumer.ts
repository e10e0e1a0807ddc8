// One consumer-group loop for every stream: read a batch, call the per-batch function, then acknowledge, retry or
// dead-letter each entry. Claims entries other consumers left idle (crashes) and processes them again, never blind.
// A function that throws for every entry means infrastructure is down: the batch is retried with backoff and nothing
// is dead-lettered. A function that throws for one entry only marks that entry, which reaches the DLQ with reason
// handler_error after maxAttempts deliveries. Holds nothing that is not in Redis.
import type { Redis } from 'ioredis';
import type { Log, Metrics } from '../../functions/ports.ts';
import type { ParseResult } from '../../functions/events.ts';
import type { ItemOutcome } from '../../functions/result.ts';
import { describeError } from '../../functions/errors.ts';
import type { KeySpace } from '../../adapters/redis/keys.ts';
import { ackAndDelete, claimIdle, deadLetter, deliveryCounts, ensureGroup, readNew, type DeadLetter, type StreamEntry } from '../../adapters/redis/consumer-group.ts';
import { handleIsolatingFailures, THREW } from './isolate-failures.ts';
import { sleep } from '../firehose/backoff.ts';

export interface StreamConsumerOptions<T> {
  redis: Redis;
  keys: KeySpace;
  /** Logical stream name, e.g. firehose_live. */
  stream: string;
  group: string;
  consumer: string;
  batchSize: number;
  blockMs?: number;
  claimIdleMs?: number;
  maxAttempts: number;
  parse: (fields: Record<string, string>) => ParseResult<T>;
  handle: (items: T[]) => Promise<ItemOutcome[]>;
  log: Log;
  metrics: Metrics;
  signal: AbortSignal;
  /**
   * Checks the function's dependencies (for the index: `select 1`). When every entry of a batch throws, a passing
   * probe means the entries are poison; a failing one means an outage, and nothing is counted against the entries.
   * Without a probe, a whole batch failing counts as an outage unless it is a single entry.
   */
  probe?: () => Promise<void>;
  /** Called when a read finds nothing new: the stream is drained for this consumer. */
  onIdle?: () => void;
}

export async function runStreamConsumer<T>(options: StreamConsumerOptions<T>): Promise<void> {
  const { redis, keys, group, consumer, log, metrics, signal } = options;
  const stream = keys.stream(options.stream);
  const dlq = keys.dlq(options.stream);
  const blockMs = options.blockMs ?? 1000;
  const claimIdleMs = options.claimIdleMs ?? 60_000;
  const count = (outcome: string, n = 1) => metrics.inc('skytide_consumer_entries_total', { stream: options.stream, outcome }, n);

  await ensureGroup(redis, stream, group);
  // A blocking XREADGROUP holds its connection: on the shared one it would stall every other loop and writer.
  const reader = redis.duplicate();
  log.info('consumer started', { stream: options.stream, group, consumer });
  let lastClaim = 0;
  let downDelay = 250;

  const isOutage = async (size: number): Promise<boolean> => {
    if (options.probe === undefined) return size > 1;
    try {
      await options.probe();
      return false;
    } catch (err) {
      log.warn('dependency probe failed', { stream: options.stream, err: describeError(err) });
      return true;
    }
  };

  const process = async (entries: StreamEntry[]): Promise<'done' | 'down'> => {
    const attempts = await deliveryCounts(redis, stream, group, consumer, entries.map((e) => e.id));
    const letters: DeadLetter[] = [];
    const parsed: { entry: StreamEntry; item: T }[] = [];
    for (const entry of entries) {
      const result = options.parse(entry.fields);
      if (result.ok) parsed.push({ entry, item: result.value });
      else {
        letters.push({ entry, reason: 'invalid_event', attempts: attempts.get(entry.id) ?? 1 });
        count('invalid');
        log.warn('unparseable entry moved to the dlq', { stream: options.stream, id: entry.id, message: result.message });
      }
    }
    const outcomes = parsed.length === 0 ? [] : await handleIsolatingFailures(
      parsed.map((p) => p.item),
      options.handle,
      (err, size) => log.warn('batch function threw', { stream: options.stream, size, err: describeError(err) }),
    );
    if (parsed.length > 0 && outcomes.every((o) => o === THREW) && (await isOutage(parsed.length))) return 'down';
    const acked: string[] = [];
    outcomes.forEach((outcome, i) => {
      const { entry } = parsed[i]!;
      const tries = attempts.get(entry.id) ?? 1;
      const o: ItemOutcome = outcome === THREW ? { status: 'retry', reason: 'handler_error' } : outcome;
      if (o.status === 'ok') {
        acked.push(entry.id);
        count('ok');
      } else if (o.status === 'dead' || tries >= options.maxAttempts) {
        const reason = o.reason;
        letters.push({ entry, reason, attempts: tries });
        count(o.status === 'dead' ? 'dead' : 'dlq');
        log.warn('entry moved to the dlq', { stream: options.stream, id: entry.id, reason, attempts: tries, message: o.message });
      } else {
        // Left pending: it comes back through XAUTOCLAIM once idle for claimIdleMs.
        count('retry');
      }
    });
    await ackAndDelete(redis, stream, group, acked);
    await deadLetter(redis, stream, dlq, group, letters);
    return 'done';
  };

  try {
    while (!signal.aborted) {
      let entries: StreamEntry[] = [];
      if (Date.now() - lastClaim >= Math.min(claimIdleMs, 30_000) / 2) {
        lastClaim = Date.now();
        entries = await claimIdle(redis, stream, group, consumer, claimIdleMs, options.batchSize);
        if (entries.length > 0) log.info('claimed idle entries', { stream: options.stream, count: entries.length });
      }
      if (entries.length === 0) entries = await readNew(reader, stream, group, consumer, options.batchSize, blockMs);
      if (entries.length === 0) {
        options.onIdle?.();
        continue;
      }
      // Retry the same batch while everything fails: the entries stay pending to us, so nothing is lost if we die.
      while ((await process(entries)) === 'down' && !signal.aborted) {
        log.error('batch function failing for every entry; retrying', { stream: options.stream, retryInMs: downDelay });
        await sleep(downDelay, signal);
        downDelay = Math.min(downDelay * 2, 30_000);
      }
      downDelay = 250;
    }
  } finally {
    reader.disconnect();
  }
  log.info('consumer stopped', { stream: options.stream, consumer });
}
