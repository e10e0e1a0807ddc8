// Lua scripts, where a compare-and-set has to be: MULTI has no conditionals, so a write that depends on what is stored
// (a cursor that only rises, a repo state that only moves forward) is one script. Defined as a command
// (defineScripts), ioredis sends EVAL the first time a script runs on a socket and EVALSHA after, so a Redis restart (an
// empty script cache on a new socket) needs nothing from us; run on its own (runScript: the batch script, the
// consumers' settle), a NOSCRIPT answer is followed by EVAL.
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

export interface RedisScript {
  /** The command name ioredis registers it under: unique per script. */
  name: string;
  numberOfKeys: number;
  lua: string;
  /**
   * The type each key must have ('string', 'list', 'hash', 'stream'...; '' any) when absent: a batch script that
   * inlines this one (once-batch-script.ts) checks them before it writes anything.
   */
  keyTypes?: readonly string[];
}

export type RedisArg = string | number | Buffer;

const defined = new WeakMap<Redis, Set<string>>();

/** Registers the scripts on this client as commands (a MULTI made afterwards can queue them too). Idempotent. */
export function defineScripts(redis: Redis, scripts: Iterable<RedisScript>): void {
  let names = defined.get(redis);
  if (names === undefined) defined.set(redis, (names = new Set()));
  for (const s of scripts) {
    if (names.has(s.name)) continue;
    redis.defineCommand(s.name, { numberOfKeys: s.numberOfKeys, lua: s.lua });
    names.add(s.name);
  }
}

const shas = new Map<string, string>();

/**
 * Runs a script on its own (not in a MULTI): EVALSHA, then EVAL when this server has not cached it (first run, or a
 * restarted Redis), NOSCRIPT meaning nothing ran.
 */
export async function runScript(redis: Redis, lua: string, keys: readonly string[], args: readonly RedisArg[]): Promise<unknown> {
  let sha = shas.get(lua);
  if (sha === undefined) shas.set(lua, (sha = createHash('sha1').update(lua).digest('hex')));
  try {
    return await redis.evalsha(sha, keys.length, ...keys, ...args);
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
    return await redis.eval(lua, keys.length, ...keys, ...args);
  }
}
