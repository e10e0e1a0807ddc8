// Redis's argument counts (its command table's `arity`: n exactly, -n at least, the name included) for the commands
// the in-process Redis serves. Redis refuses a command with the wrong count before it runs it, and inside MULTI
// when it is queued: the whole transaction is then discarded (EXECABORT), not run without that one command.
import { ReplyError } from './resp.ts';

const ARITY: Readonly<Record<string, number>> = {
  PING: -1, ECHO: 2, SELECT: 2, CLIENT: -2, CONFIG: -2, INFO: -1, DBSIZE: 1, FLUSHALL: -1, FLUSHDB: -1, TYPE: 2, EXISTS: -2,
  DEL: -2, UNLINK: -2, KEYS: 2, SCAN: -2, PEXPIRE: -3, EXPIRE: -3, PTTL: 2, TTL: 2, PERSIST: 2,
  GET: 2, MGET: -2, SET: -3, SETNX: 3, INCR: 2, INCRBY: 3, DECR: 2,
  HSET: -4, HMSET: -4, HGET: 3, HMGET: -3, HGETALL: 2, HKEYS: 2, HLEN: 2, HEXISTS: 3, HDEL: -3, HINCRBY: 4,
  RPUSH: -3, LPUSH: -3, LLEN: 2, LRANGE: 4, LINDEX: 3, LTRIM: 4, LPOP: -2, RPOP: -2,
  SADD: -3, SREM: -3, SMEMBERS: 2, SISMEMBER: 3, SCARD: 2, ZADD: -4, ZREM: -3, ZCARD: 2, ZSCORE: 3, ZRANGEBYSCORE: -4,
  XADD: -5, XLEN: 2, XRANGE: -4, XREVRANGE: -4, XDEL: -3, XTRIM: -4, XGROUP: -2, XACK: -4, XREADGROUP: -7, XPENDING: -3,
  XCLAIM: -6, XAUTOCLAIM: -6, XINFO: -2,
  EVAL: -3, EVALSHA: -3, SCRIPT: -2, MULTI: 1, EXEC: 1, DISCARD: 1, WATCH: -2, UNWATCH: 1, QUIT: -1,
};

/** Container commands' subcommands (`xgroup|create`), counted the same way from the container's name. */
const SUBCOMMAND_ARITY: Readonly<Record<string, Readonly<Record<string, number>>>> = {
  XGROUP: { CREATE: -5, SETID: -5, DESTROY: 4, CREATECONSUMER: 5, DELCONSUMER: 5 },
  XINFO: { CONSUMERS: 4, GROUPS: 3, STREAM: -3 },
  CLIENT: { SETNAME: 3, GETNAME: 2, ID: 2 },
  SCRIPT: { LOAD: 3, EXISTS: -3, FLUSH: -2 },
};

const fits = (arity: number, n: number): boolean => (arity >= 0 ? n === arity : n >= -arity);
const wrongCount = (name: string): ReplyError => new ReplyError(`ERR wrong number of arguments for '${name}' command`);

/** Redis's refusal of a command with the wrong number of arguments; undefined when the count is right or not known. */
export function arityError(args: readonly string[]): ReplyError | undefined {
  const name = (args[0] ?? '').toUpperCase();
  const arity = ARITY[name];
  if (arity === undefined) return undefined;
  if (!fits(arity, args.length)) return wrongCount(name.toLowerCase());
  const subs = SUBCOMMAND_ARITY[name];
  const sub = (args[1] ?? '').toUpperCase();
  const subArity = subs?.[sub];
  if (subArity !== undefined && !fits(subArity, args.length)) return wrongCount(`${name.toLowerCase()}|${sub.toLowerCase()}`);
  return undefined;
}
