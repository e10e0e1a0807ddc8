// The consumers of a stream's group, as operators need to see them: idle time and pending entries per consumer, and
// removal of dead ones. A consumer is removed only when it holds nothing: XGROUP DELCONSUMER would drop its pending
// entries from the group's PEL (they would never be claimed again), so one that holds entries is left for
// XAUTOCLAIM to empty first.
import type { Redis } from 'ioredis';

export interface ConsumerInfo {
  name: string;
  pending: number;
  /** Milliseconds since its last attempted interaction (XINFO CONSUMERS `idle`). */
  idleMs: number;
}

function field(row: unknown[], name: string): unknown {
  for (let i = 0; i + 1 < row.length; i += 2) if (row[i] === name) return row[i + 1];
  return undefined;
}

/** Consumers of `group` on `stream`; empty when the stream or the group does not exist yet. */
export async function listConsumers(redis: Redis, stream: string, group: string): Promise<ConsumerInfo[]> {
  let reply: unknown;
  try {
    reply = await redis.xinfo('CONSUMERS', stream, group);
  } catch (err) {
    if (err instanceof Error && /NOGROUP|no such key/i.test(err.message)) return [];
    throw err;
  }
  if (!Array.isArray(reply)) return [];
  return reply
    .filter((row): row is unknown[] => Array.isArray(row))
    .map((row) => ({ name: String(field(row, 'name')), pending: Number(field(row, 'pending') ?? 0), idleMs: Number(field(row, 'idle') ?? 0) }));
}

// Checked and deleted in one script, so a consumer that takes an entry between our look and the deletion is kept:
// DELCONSUMER would otherwise drop that entry from the PEL, where nothing would ever claim it again.
export const DELETE_IF_EMPTY = `
local held = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if #held > 0 then return -1 end
return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])`;

/** Removes consumers idle for at least `idleMs` that hold no pending entry (but `except`); returns their names. */
export async function pruneConsumers(redis: Redis, stream: string, group: string, idleMs: number, except?: string): Promise<string[]> {
  const removed: string[] = [];
  for (const c of await listConsumers(redis, stream, group)) {
    if (c.pending > 0 || c.idleMs < idleMs || c.name === except) continue;
    const result = Number(await redis.eval(DELETE_IF_EMPTY, 1, stream, group, c.name));
    if (result >= 0) removed.push(c.name);
  }
  return removed;
}
