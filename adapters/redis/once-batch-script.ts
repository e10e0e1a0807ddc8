// A batch with a seq cursor as ONE script instead of a MULTI, so that running the same batch a second time writes
// nothing. Why: ioredis sends every command whose reply it has not read again after a reconnect
// (autoResendUnfulfilledCommands, on by default), and a Redis Cluster client retries a command whose connection
// closed. When the connection dies after Redis ran a batch but before its reply arrived, the batch ran twice: a MULTI
// cannot look at anything before its XADDs, so every entry landed twice (auto ids, so nothing told them apart).
// This script first compares the batch's token (random, one per batch) with the last token stored beside the cursor:
// equal, this batch ran already and it writes nothing; else it runs every step and stores the token, in the same
// atomic step. One marker per cursor is enough because a writer sends its next batch for a cursor only once the
// previous one answered (a resend comes first). Like the MULTI it replaces it is atomic, runs every step in order, and
// reports a step Redis refuses in that step's reply while the others still run; except a refusal of every write
// (REFUSALS: out of memory, a read-only replica, failing snapshots, too few replicas), which ends the script with that
// error before anything is written, as a MULTI is refused whole. Out of memory, Redis refuses only a script's writes
// that could grow memory, and only until its first write: running on, a trim that shrinks it (the release of parked
// frames) would pass, and every write after it, so frames would be trimmed whose entries were refused.
// A key of another type than its step needs (a stream, cursor or list someone made by hand with another type) ends
// the script the same way, before anything is written, with a WRONGTYPE error naming the step and the key: Redis does
// not undo a script's writes when a later command fails, so found only when its step ran, it would have left the steps
// before and after it written, the seq cursor raised past an XADD that never happened and the marker stored (the
// batch's entries lost). So every key's type is checked first, against what its step declares.
// A batch with neither a seq cursor nor an op that must not run twice runs the same script without a marker (runBatch:
// token '', no marker key): at least once, as the MULTI it replaces, but with the same type checks and refusals, since
// a MULTI runs its other commands when one meets a key of the wrong type (part of the batch landed).
// KEYS[1] = the marker (none when the token is ''), then each step's keys in order. ARGV[1] = the token, then per step:
// its kind ('x' XADD, 'c' a command whose first argument is its key, 's' one of the inlined scripts), its number of
// keys, its number of arguments, the type each key must have ('' any), and the arguments (a command's name first; a
// script's name first). Answers {0} when this batch had run already, else {1, reply of step 1, reply of step 2, ...}.
import type { Redis } from 'ioredis';
import { runScript, type RedisArg, type RedisScript } from './scripts.ts';
import { KEY_TYPES_LUA } from './lua/key-types.ts';

/**
 * Error codes with which Redis refuses every write of a script alike, from its first write on: a step refused so means
 * nothing was written before it (out of memory: only a script that has not written yet is refused), so the script
 * stops there and the batch can be sent again whole.
 */
export const REFUSALS = ['OOM', 'READONLY', 'MISCONF', 'NOREPLICAS'] as const;

/**
 * Error codes of a batch's guard steps (a subscription's lease no longer held: lease.ts's LEASE_GUARD; its cursor below what it stored, Redis
 * having lost writes: cursor-store.ts's CURSOR_FLOOR), which a
 * batch puts first: the script stops at them as at a refusal, so a refused guard means nothing of the batch was
 * written. Not an outage (write-refusal.ts): the writer must stop, not send it again.
 */
export const GUARD_CODES = ['LEASELOST', 'BEHIND'] as const;

/**
 * The type of the key of each command a batch step may run (RedisScript.keyTypes for scripts; '' any: SET and DEL
 * replace or remove a key of any type). A command not listed is refused when the batch is built: its key's type must
 * be declared here first, or a WRONGTYPE could again be found only after the steps before it were written.
 */
export const COMMAND_KEY_TYPES: Readonly<Record<string, string>> = { SET: '', DEL: '', XADD: 'stream', XDEL: 'stream', HSET: 'hash', RPUSH: 'list' };

export type OnceBatchStep =
  | { kind: 'xadd'; stream: string; fields: readonly string[] }
  | { kind: 'command'; name: string; args: readonly RedisArg[] }
  | { kind: 'script'; script: RedisScript; keys: readonly string[]; args: readonly RedisArg[] };

export type OnceBatchReply = { ranBefore: true } | { ranBefore: false; replies: unknown[] };

export interface Compiled {
  lua: string;
}

/** One script per set of inlined scripts (a handful: the cursor's, the repo state's), compiled once. */
const compiled = new Map<string, Compiled>();

/**
 * The script for a batch whose steps run these scripts (in any order, repeated or not: the text depends only on the
 * set). Exported for the in-process Redis of `skytide dev`, which finds a JS twin by the text's SHA1.
 */
export function compileOnceBatch(scripts: readonly RedisScript[]): Compiled {
  const sorted = [...scripts].sort((a, b) => a.name.localeCompare(b.name));
  const id = sorted.map((s) => s.name).join(',');
  let c = compiled.get(id);
  if (c !== undefined) return c;
  // Each script's body becomes a function of its own KEYS and ARGV, which it reads as if it ran alone.
  const inlined = sorted.map((s) => `scripts[${JSON.stringify(s.name)}] = function(KEYS, ARGV)\n${s.lua}\nend`).join('\n');
  const lua = `${KEY_TYPES_LUA}
local once = ARGV[1] ~= ''
if once and redis.call('GET', KEYS[1]) == ARGV[1] then return {0} end
local checked = {}
local first = once and 2 or 1
local k, a, step = first, 2, 1
while a <= #ARGV do
  local nk, na = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  for i = 1, nk do
    local want, key = ARGV[a + 2 + i], KEYS[k]
    if want ~= '' and checked[key] == nil then
      local t = wrongTypeOf(key, want)
      if t then
        return redis.error_reply('WRONGTYPE step ' .. step .. ' needs ' .. key .. ' to be a ' .. want .. ' but it is a ' .. t .. ': nothing of the batch was written')
      end
      checked[key] = true
    end
    k = k + 1
  end
  a = a + 3 + nk + na
  step = step + 1
end
local refusals = {${[...REFUSALS, ...GUARD_CODES].map((code) => code + ' = true').join(', ')}}
local scripts = {}
${inlined}
local out = {1}
k, a = first, 2
while a <= #ARGV do
  local kind, nk, na = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  a = a + 3 + nk
  local keys, args = {}, {}
  for i = 1, nk do keys[i] = KEYS[k]; k = k + 1 end
  for i = 1, na do args[i] = ARGV[a]; a = a + 1 end
  local reply
  if kind == 'x' then
    reply = redis.pcall('XADD', keys[1], '*', unpack(args))
  elseif kind == 'c' then
    if nk == 1 then reply = redis.pcall(args[1], keys[1], unpack(args, 2)) else reply = redis.pcall(unpack(args)) end
  else
    local ok
    ok, reply = pcall(scripts[args[1]], keys, {unpack(args, 2)})
    if not ok and (type(reply) ~= 'table' or reply.err == nil) then reply = {err = tostring(reply)} end
  end
  if reply == nil then reply = false end
  if type(reply) == 'table' and type(reply.err) == 'string' and refusals[string.match(reply.err, '^%u+') or ''] then
    return redis.error_reply(reply.err)
  end
  out[#out + 1] = reply
end
if once then redis.call('SET', KEYS[1], ARGV[1]) end
return out
`;
  c = { lua };
  compiled.set(id, c);
  return c;
}

/** Every set of `scripts` (the empty one included), each sorted by name: the inlined sets a batch may need. */
export function everyScriptSet(scripts: readonly RedisScript[]): RedisScript[][] {
  const unique = [...new Set(scripts)].sort((a, b) => a.name.localeCompare(b.name));
  const sets: RedisScript[][] = [[]];
  for (const script of unique) for (const set of [...sets]) sets.push([...set, script]);
  return sets;
}

/** Runs the steps and stores `token` at `marker`, unless `token` is stored there already (this batch ran). */
export async function runOnceBatch(redis: Redis, marker: string, token: string, steps: readonly OnceBatchStep[]): Promise<OnceBatchReply> {
  if (token === '') throw new Error('a once-batch needs a token: the empty one means no marker');
  return runSteps(redis, { marker, token }, steps);
}

/**
 * Runs the steps with no marker: at least once (run again should its reply be lost), but refused whole, nothing
 * written, for a key of the wrong type or a refusal of every write. Answers each step's reply.
 */
export async function runBatch(redis: Redis, steps: readonly OnceBatchStep[]): Promise<unknown[]> {
  const ran = await runSteps(redis, undefined, steps);
  if (ran.ranBefore) throw new Error('a batch without a marker answered that it had run before');
  return ran.replies;
}

async function runSteps(redis: Redis, once: { marker: string; token: string } | undefined, steps: readonly OnceBatchStep[]): Promise<OnceBatchReply> {
  const keys: string[] = once === undefined ? [] : [once.marker];
  const args: RedisArg[] = [once?.token ?? ''];
  const scripts = new Set<RedisScript>();
  for (const step of steps) {
    if (step.kind === 'xadd') {
      keys.push(step.stream);
      args.push('x', 1, step.fields.length, 'stream', ...step.fields);
    } else if (step.kind === 'command') {
      const [key, ...rest] = step.args;
      if (key === undefined) args.push('c', 0, 1, step.name);
      else {
        const type = COMMAND_KEY_TYPES[step.name.toUpperCase()];
        if (type === undefined) throw new Error(`a batch step runs ${step.name}, whose key type COMMAND_KEY_TYPES does not declare`);
        keys.push(String(key));
        args.push('c', 1, 1 + rest.length, type, step.name, ...rest);
      }
    } else {
      scripts.add(step.script);
      keys.push(...step.keys);
      args.push('s', step.keys.length, 1 + step.args.length, ...step.keys.map((_, i) => step.script.keyTypes?.[i] ?? ''), step.script.name, ...step.args);
    }
  }
  // runScript: EVALSHA, then EVAL when the server has not cached it (NOSCRIPT means nothing ran).
  const reply: unknown = await runScript(redis, compileOnceBatch([...scripts]).lua, keys, args);
  if (!Array.isArray(reply)) throw new Error(`the batch script answered ${typeof reply}, not a list`);
  const [ran, ...replies] = reply as unknown[];
  return Number(ran) === 0 ? { ranBefore: true } : { ranBefore: false, replies };
}
