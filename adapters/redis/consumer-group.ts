// Consumer-group primitives for the stream consumers (architecture.md, Redis contract). Groups start at id 0 with
// MKSTREAM. Success is XACK + XDEL in one MULTI; a dead letter is XADD <stream>_dlq + XACK + XDEL in one MULTI, so an
// entry is never both lost and acknowledged, nor dead-lettered twice. No XTRIM, no MAXLEN: nothing pending is deleted.
import type { Redis } from 'ioredis';
import { StreamWriteError } from './stream-writer.ts';

export interface StreamEntry {
  id: string;
  fields: Record<string, string>;
}

export async function ensureGroup(redis: Redis, stream: string, group: string): Promise<void> {
  try {
    await redis.xgroup('CREATE', stream, group, '0', 'MKSTREAM');
  } catch (err) {
    if (!(err instanceof Error) || !err.message.includes('BUSYGROUP')) throw err;
  }
}

function toFields(flat: unknown): Record<string, string> {
  const fields: Record<string, string> = {};
  if (!Array.isArray(flat)) return fields;
  for (let i = 0; i + 1 < flat.length; i += 2) fields[String(flat[i])] = String(flat[i + 1]);
  return fields;
}

function toEntries(raw: unknown): StreamEntry[] {
  if (!Array.isArray(raw)) return [];
  return raw
    .filter((e): e is [string, unknown] => Array.isArray(e) && typeof e[0] === 'string')
    .map(([id, flat]) => ({ id, fields: toFields(flat) }));
}

/** New entries for this consumer, waiting up to blockMs. */
export async function readNew(redis: Redis, stream: string, group: string, consumer: string, count: number, blockMs: number): Promise<StreamEntry[]> {
  const reply = (await redis.xreadgroup('GROUP', group, consumer, 'COUNT', count, 'BLOCK', blockMs, 'STREAMS', stream, '>')) as
    | [string, unknown][]
    | null;
  return reply === null ? [] : toEntries(reply[0]?.[1]);
}

/** Entries pending longer than minIdleMs on any consumer (a crashed or stuck one), now ours to process again. */
export async function claimIdle(redis: Redis, stream: string, group: string, consumer: string, minIdleMs: number, count: number): Promise<StreamEntry[]> {
  const reply = (await redis.xautoclaim(stream, group, consumer, minIdleMs, '0-0', 'COUNT', count)) as unknown[];
  return toEntries(reply[1]);
}

/** How many times each of our pending entries has been delivered (this delivery included). */
export async function deliveryCounts(redis: Redis, stream: string, group: string, consumer: string, ids: readonly string[]): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  if (ids.length === 0) return counts;
  const sorted = [...ids].sort(compareIds);
  const reply = (await redis.xpending(stream, group, sorted[0]!, sorted.at(-1)!, ids.length * 2 + 10, consumer)) as [string, string, number, number][];
  for (const [id, , , deliveries] of reply) counts.set(id, Number(deliveries));
  return counts;
}

export function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bm, bs] = b.split('-').map(BigInt) as [bigint, bigint];
  return am !== bm ? (am < bm ? -1 : 1) : as === bs ? 0 : as < bs ? -1 : 1;
}

async function execChecked(multi: ReturnType<Redis['multi']>, what: string): Promise<void> {
  const replies = await multi.exec();
  if (replies === null) throw new StreamWriteError(`${what}: MULTI was aborted`);
  for (const [err] of replies) if (err !== null) throw new StreamWriteError(`${what} failed`, { cause: err });
}

export async function ackAndDelete(redis: Redis, stream: string, group: string, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await execChecked(redis.multi().xack(stream, group, ...ids).xdel(stream, ...ids), 'ack');
}

export interface DeadLetter {
  entry: StreamEntry;
  reason: string;
  attempts: number;
}

export async function deadLetter(redis: Redis, stream: string, dlq: string, group: string, letters: readonly DeadLetter[]): Promise<void> {
  if (letters.length === 0) return;
  const multi = redis.multi();
  for (const { entry, reason, attempts } of letters) {
    multi.xadd(dlq, '*', ...Object.entries(entry.fields).flat(), 'reason', reason, 'attempts', String(attempts));
  }
  const ids = letters.map((l) => l.entry.id);
  await execChecked(multi.xack(stream, group, ...ids).xdel(stream, ...ids), 'dead letter');
}
