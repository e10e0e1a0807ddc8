// Draining the pipeline after a chaos run, and the Redis figures that say how it went. Drained means: the firehose
// cursor reached the PDS's last seq, and every work stream is empty with nothing pending, and stayed so for a few
// checks in a row (an index batch may queue a resync just as the streams looked empty).
import type { Redis } from 'ioredis';
import { GROUPS, STREAMS, type KeySpace } from '../../adapters/redis/keys.ts';

const WORK: [string, string][] = [
  [STREAMS.firehoseLive, GROUPS.firehose],
  [STREAMS.firehoseBackfill, GROUPS.firehose],
  [STREAMS.repoBackfill, GROUPS.repoBackfill],
];

export interface StreamState {
  stream: string;
  length: number;
  pending: number;
}

export async function workStreams(redis: Redis, keys: KeySpace): Promise<StreamState[]> {
  const out: StreamState[] = [];
  for (const [stream, group] of WORK) {
    const key = keys.stream(stream);
    const length = await redis.xlen(key);
    let pending = 0;
    try {
      pending = Number(((await redis.xpending(key, group)) as [number])[0]);
    } catch {
      // NOGROUP: no consumer ever read this stream, so nothing can be pending.
    }
    out.push({ stream, length, pending });
  }
  return out;
}

export interface DrainOptions {
  redis: Redis;
  keys: KeySpace;
  cursorKey: string;
  /** The seq the cursor must reach (the PDS's latest). */
  targetSeq: () => Promise<number>;
  timeoutMs: number;
  /** Consecutive clean checks, `intervalMs` apart, that count as drained. */
  stableChecks?: number;
  intervalMs?: number;
  onProgress?: (line: string) => void;
}

/** Resolves with the time it took, or throws with the last state seen. */
export async function drainPipeline(o: DrainOptions): Promise<number> {
  const started = Date.now();
  const stable = o.stableChecks ?? 3;
  const interval = o.intervalMs ?? 1000;
  let clean = 0;
  let lastReport = started;
  for (;;) {
    const target = await o.targetSeq();
    const cursor = Number((await o.redis.get(o.cursorKey)) ?? -1);
    const streams = await workStreams(o.redis, o.keys);
    const idle = cursor >= target && streams.every((s) => s.length === 0 && s.pending === 0);
    clean = idle ? clean + 1 : 0;
    if (clean >= stable) return Date.now() - started;
    const state = `cursor ${cursor}/${target}, ${streams.map((s) => `${s.stream} ${s.length} (${s.pending} pending)`).join(', ')}`;
    if (Date.now() - started > o.timeoutMs) throw new Error(`pipeline not drained after ${o.timeoutMs} ms: ${state}`);
    if (Date.now() - lastReport >= 15_000) {
      lastReport = Date.now();
      o.onProgress?.(`draining for ${Math.round((Date.now() - started) / 1000)} s: ${state}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** XINFO STREAM's entries-added: every entry ever appended to the stream, deleted ones included. */
export async function entriesAdded(redis: Redis, key: string): Promise<number> {
  try {
    const info = (await redis.call('XINFO', 'STREAM', key)) as unknown[];
    const i = info.indexOf('entries-added');
    return i < 0 ? -1 : Number(info[i + 1]);
  } catch {
    return 0;
  }
}

/** Length of every dead-letter stream. */
export async function dlqLengths(redis: Redis, keys: KeySpace): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const stream of Object.values(STREAMS)) out[keys.dlq(stream)] = await redis.xlen(keys.dlq(stream));
  return out;
}

/** A few DLQ entries with their reasons, for a failure that explains itself. */
export async function dlqSample(redis: Redis, key: string, n: number): Promise<string[]> {
  const entries = await redis.xrange(key, '-', '+', 'COUNT', n);
  return entries.map(([id, fields]) => {
    const f: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
    const payload = f['event'] ?? f['repo'] ?? '';
    return `${id} reason=${f['reason']} attempts=${f['attempts']} error=${f['error'] ?? '-'} ${payload.length > 200 ? `${payload.slice(0, 200)}...` : payload}`;
  });
}
