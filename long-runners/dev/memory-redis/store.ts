// The data and the commands of the in-process Redis: exactly the subset skytide sends (strings with expiry, hashes,
// lists, sets, streams with consumer groups, MULTI/EXEC, scripts through their JS twins), with Redis's replies and
// errors, so ioredis and every adapter run unchanged. Single-threaded like Redis: each command runs to its end
// before the next, which is what makes MULTI and scripts atomic here too. Nothing is written to disk.
import { NULL_ARRAY, OK, ReplyError, Status, type Reply } from './resp.ts';
import { arityError } from './arity.ts';

type Id = readonly [number, number];

interface Pending {
  consumer: string;
  deliveredAt: number;
  deliveries: number;
}

interface Group {
  lastDelivered: Id;
  pel: Map<string, Pending>;
  consumers: Map<string, { seenAt: number; activeAt: number }>;
}

export interface StreamValue {
  kind: 'stream';
  /** Entries in id order. XDEL removes them; the array stays sorted. */
  entries: { id: Id; key: string; fields: string[] }[];
  byId: Map<string, string[]>;
  lastId: Id;
  groups: Map<string, Group>;
}

type Value =
  | { kind: 'string'; value: string }
  | { kind: 'hash'; value: Map<string, string> }
  | { kind: 'list'; value: string[] }
  | { kind: 'set'; value: Set<string> }
  | { kind: 'zset'; value: Map<string, number> }
  | StreamValue;

const WRONGTYPE = new ReplyError('WRONGTYPE Operation against a key holding the wrong kind of value');
const SYNTAX = new ReplyError('ERR syntax error');
const NOT_INT = new ReplyError('ERR value is not an integer or out of range');

export class CommandError extends Error {
  readonly reply: ReplyError;
  constructor(reply: ReplyError) {
    super(reply.text);
    this.reply = reply;
  }
}
function fail(text: string | ReplyError): never {
  throw new CommandError(typeof text === 'string' ? new ReplyError(text) : text);
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** An integer argument or value as Redis reads one (string2ll): signed 64-bit, no sign `+`, no leading zeros, no `-0`. */
function int64(s: string | undefined): bigint {
  if (s === undefined || !/^(0|-?[1-9]\d*)$/.test(s)) fail(NOT_INT);
  const n = BigInt(s);
  if (n < INT64_MIN || n > INT64_MAX) fail(NOT_INT);
  return n;
}
function int(s: string | undefined): number {
  return Number(int64(s));
}

/** Consumers in name order (bytes), as Redis keeps them (a radix tree). */
const byName = <T>(entries: [string, T][]): [string, T][] => entries.sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));

const idKey = (id: Id): string => `${id[0]}-${id[1]}`;
function cmpId(a: Id, b: Id): number {
  return a[0] !== b[0] ? a[0] - b[0] : a[1] - b[1];
}
/** Parses a stream id; `-`/`+` are the extremes; a bare number is `n-0` (or `n-max` as an end). */
function parseId(s: string, end = false): Id {
  if (s === '-') return [0, 0];
  if (s === '+') return [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER];
  const m = /^(\d+)(?:-(\d+))?$/.exec(s);
  if (m === null) fail('ERR Invalid stream ID specified as stream command argument');
  return [Number(m[1]), m[2] === undefined ? (end ? Number.MAX_SAFE_INTEGER : 0) : Number(m[2])];
}

export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '\\' && i + 1 < glob.length) re += (glob[++i] as string).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    else if (c === '[') {
      const close = glob.indexOf(']', i + 1);
      if (close < 0) re += '\\[';
      else {
        re += `[${glob.slice(i + 1, close).replace(/^\^/, '^').replace(/\\/g, '\\\\')}]`;
        i = close;
      }
    } else re += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's');
}

export class Store {
  private readonly data = new Map<string, Value>();
  private readonly expiry = new Map<string, number>();
  /**
   * Called after a write to a stream, the deletion of a key or of a group, so blocked XREADGROUPs look again: at new
   * entries, or at their stream or group gone (Redis then unblocks them with an error).
   */
  onKeyChange: (key: string) => void = () => {};

  private readonly now: () => number;
  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  // --- keyspace -------------------------------------------------------------------------------------------------
  private live(key: string): Value | undefined {
    const at = this.expiry.get(key);
    if (at !== undefined && at <= this.now()) {
      this.data.delete(key);
      this.expiry.delete(key);
    }
    return this.data.get(key);
  }
  private typed<K extends Value['kind']>(key: string, kind: K): Extract<Value, { kind: K }> | undefined {
    const v = this.live(key);
    if (v === undefined) return undefined;
    if (v.kind !== kind) fail(WRONGTYPE);
    return v as Extract<Value, { kind: K }>;
  }
  private del(key: string): boolean {
    this.expiry.delete(key);
    const deleted = this.data.delete(key);
    if (deleted) this.onKeyChange(key);
    return deleted;
  }
  private flush(): Status {
    const keys = [...this.data.keys()];
    this.data.clear();
    this.expiry.clear();
    for (const key of keys) this.onKeyChange(key);
    return OK;
  }
  /** Empty collections disappear, as in Redis (streams stay). */
  private dropIfEmpty(key: string, size: number): void {
    if (size === 0) this.del(key);
  }
  keys(): string[] {
    return [...this.data.keys()].filter((k) => this.live(k) !== undefined);
  }

  /** Runs one command; errors come back as error replies. */
  run(args: readonly string[]): Reply {
    try {
      return this.exec(args);
    } catch (err) {
      if (err instanceof CommandError) return err.reply;
      throw err;
    }
  }

  /** Runs one command; errors are thrown as CommandError (what a script's redis.call does). */
  exec(args: readonly string[]): Reply {
    const name = (args[0] ?? '').toUpperCase();
    const a = args.slice(1);
    const handler = this.commands[name];
    if (handler === undefined) fail(`ERR unknown command '${args[0] ?? ''}' (the in-process Redis implements the subset skytide uses)`);
    const refused = arityError(args);
    if (refused !== undefined) fail(refused);
    return handler(a);
  }

  has(name: string): boolean {
    return this.commands[name.toUpperCase()] !== undefined;
  }

  private readonly commands: Record<string, (a: string[]) => Reply> = {
    PING: (a) => (a[0] === undefined ? new Status('PONG') : a[0]),
    ECHO: (a) => a[0] ?? null,
    SELECT: () => OK,
    CLIENT: (a) => ((a[0] ?? '').toUpperCase() === 'GETNAME' ? null : (a[0] ?? '').toUpperCase() === 'ID' ? 1 : OK),
    CONFIG: () => [],
    INFO: () => '# Server\r\nredis_version:7.2.0\r\nredis_mode:standalone\r\nskytide_in_process:1\r\n# Persistence\r\nloading:0\r\n',
    DBSIZE: () => this.keys().length,
    FLUSHALL: () => this.flush(),
    FLUSHDB: () => this.flush(),
    TYPE: (a) => new Status(this.live(a[0] ?? '')?.kind ?? 'none'),
    EXISTS: (a) => a.filter((k) => this.live(k) !== undefined).length,
    DEL: (a) => a.filter((k) => this.live(k) !== undefined && this.del(k)).length,
    UNLINK: (a) => a.filter((k) => this.live(k) !== undefined && this.del(k)).length,
    KEYS: (a) => {
      const re = globToRegExp(a[0] ?? '*');
      return this.keys().filter((k) => re.test(k));
    },
    SCAN: (a) => {
      let match = '*';
      let type: string | undefined;
      for (let i = 1; i < a.length; i += 2) {
        const opt = (a[i] ?? '').toUpperCase();
        if (opt === 'MATCH') match = a[i + 1] ?? '*';
        else if (opt === 'TYPE') type = a[i + 1];
        else if (opt !== 'COUNT') fail(SYNTAX);
      }
      const re = globToRegExp(match);
      // One page holds every key: cursor 0 comes back at once, which SCAN's contract allows.
      return ['0', this.keys().filter((k) => re.test(k) && (type === undefined || this.live(k)?.kind === type))];
    },
    PEXPIRE: (a) => this.expire(a[0] ?? '', int(a[1])),
    EXPIRE: (a) => this.expire(a[0] ?? '', int(a[1]) * 1000),
    PTTL: (a) => this.ttl(a[0] ?? ''),
    TTL: (a) => {
      const t = this.ttl(a[0] ?? '');
      return t < 0 ? t : Math.round(t / 1000);
    },
    PERSIST: (a) => (this.expiry.delete(a[0] ?? '') ? 1 : 0),

    // --- strings ---------------------------------------------------------------------------------------------------
    GET: (a) => this.typed(a[0] ?? '', 'string')?.value ?? null,
    MGET: (a) => a.map((k) => {
      const v = this.live(k);
      return v?.kind === 'string' ? v.value : null;
    }),
    SET: (a) => {
      const [key, value] = a;
      if (key === undefined || value === undefined) fail(SYNTAX);
      let ttl: number | undefined;
      let nx = false;
      let xx = false;
      let get = false;
      let keep = false;
      for (let i = 2; i < a.length; i++) {
        const opt = (a[i] ?? '').toUpperCase();
        if (opt === 'PX') ttl = int(a[++i]);
        else if (opt === 'EX') ttl = int(a[++i]) * 1000;
        else if (opt === 'NX') nx = true;
        else if (opt === 'XX') xx = true;
        else if (opt === 'GET') get = true;
        else if (opt === 'KEEPTTL') keep = true;
        else fail(SYNTAX);
      }
      // Options that exclude each other (NX with XX, two expiries, an expiry with KEEPTTL) are refused as Redis does.
      if ((nx && xx) || (keep && ttl !== undefined) || a.slice(2).filter((o) => /^(EX|PX)$/i.test(o)).length > 1) fail(SYNTAX);
      if (ttl !== undefined && ttl <= 0) fail("ERR invalid expire time in 'set' command");
      const old = this.live(key);
      if (get && old !== undefined && old.kind !== 'string') fail(WRONGTYPE);
      const previous = old?.kind === 'string' ? old.value : null;
      if ((nx && old !== undefined) || (xx && old === undefined)) return get ? previous : null;
      const keptTtl = keep ? this.expiry.get(key) : undefined;
      this.del(key);
      this.data.set(key, { kind: 'string', value });
      if (ttl !== undefined) this.expiry.set(key, this.now() + ttl);
      else if (keptTtl !== undefined) this.expiry.set(key, keptTtl);
      return get ? previous : OK;
    },
    SETNX: (a) => (this.run(['SET', a[0] ?? '', a[1] ?? '', 'NX']) === OK ? 1 : 0),
    INCR: (a) => this.incr(a[0] ?? '', 1n),
    INCRBY: (a) => this.incr(a[0] ?? '', int64(a[1])),
    DECR: (a) => this.incr(a[0] ?? '', -1n),

    // --- hashes ----------------------------------------------------------------------------------------------------
    HSET: (a) => this.hset(a),
    HMSET: (a) => (this.hset(a), OK),
    HGET: (a) => this.typed(a[0] ?? '', 'hash')?.value.get(a[1] ?? '') ?? null,
    HMGET: (a) => {
      const h = this.typed(a[0] ?? '', 'hash');
      return a.slice(1).map((f) => h?.value.get(f) ?? null);
    },
    HGETALL: (a) => [...(this.typed(a[0] ?? '', 'hash')?.value ?? new Map<string, string>())].flat(),
    HKEYS: (a) => [...(this.typed(a[0] ?? '', 'hash')?.value.keys() ?? [])],
    HLEN: (a) => this.typed(a[0] ?? '', 'hash')?.value.size ?? 0,
    HEXISTS: (a) => (this.typed(a[0] ?? '', 'hash')?.value.has(a[1] ?? '') === true ? 1 : 0),
    HDEL: (a) => {
      const key = a[0] ?? '';
      const h = this.typed(key, 'hash');
      if (h === undefined) return 0;
      const n = a.slice(1).filter((f) => h.value.delete(f)).length;
      this.dropIfEmpty(key, h.value.size);
      return n;
    },
    HINCRBY: (a) => {
      const key = a[0] ?? '';
      const h = this.typed(key, 'hash') ?? { kind: 'hash' as const, value: new Map<string, string>() };
      const by = int64(a[2]);
      let current: bigint;
      try {
        current = int64(h.value.get(a[1] ?? '') ?? '0');
      } catch {
        fail('ERR hash value is not an integer');
      }
      const next = current + by;
      if (next < INT64_MIN || next > INT64_MAX) fail(new ReplyError('ERR increment or decrement would overflow'));
      this.data.set(key, h);
      h.value.set(a[1] ?? '', String(next));
      return next;
    },

    // --- lists -----------------------------------------------------------------------------------------------------
    RPUSH: (a) => this.push(a, false),
    LPUSH: (a) => this.push(a, true),
    LLEN: (a) => this.typed(a[0] ?? '', 'list')?.value.length ?? 0,
    LRANGE: (a) => {
      const l = this.typed(a[0] ?? '', 'list')?.value ?? [];
      const [start, stop] = this.range(l.length, int(a[1]), int(a[2]));
      return l.slice(start, stop + 1);
    },
    LINDEX: (a) => {
      const l = this.typed(a[0] ?? '', 'list')?.value ?? [];
      const i = int(a[1]);
      return l[i < 0 ? l.length + i : i] ?? null;
    },
    LTRIM: (a) => {
      const key = a[0] ?? '';
      const l = this.typed(key, 'list');
      if (l === undefined) return OK;
      const [start, stop] = this.range(l.value.length, int(a[1]), int(a[2]));
      l.value = start > stop ? [] : l.value.slice(start, stop + 1);
      this.dropIfEmpty(key, l.value.length);
      return OK;
    },
    LPOP: (a) => this.pop(a[0] ?? '', true),
    RPOP: (a) => this.pop(a[0] ?? '', false),

    // --- sets ------------------------------------------------------------------------------------------------------
    SADD: (a) => {
      const key = a[0] ?? '';
      const s = this.typed(key, 'set') ?? { kind: 'set' as const, value: new Set<string>() };
      this.data.set(key, s);
      const before = s.value.size;
      for (const m of a.slice(1)) s.value.add(m);
      return s.value.size - before;
    },
    SREM: (a) => {
      const key = a[0] ?? '';
      const s = this.typed(key, 'set');
      if (s === undefined) return 0;
      const n = a.slice(1).filter((m) => s.value.delete(m)).length;
      this.dropIfEmpty(key, s.value.size);
      return n;
    },
    SMEMBERS: (a) => [...(this.typed(a[0] ?? '', 'set')?.value ?? [])],
    SISMEMBER: (a) => (this.typed(a[0] ?? '', 'set')?.value.has(a[1] ?? '') === true ? 1 : 0),
    SCARD: (a) => this.typed(a[0] ?? '', 'set')?.value.size ?? 0,

    // --- sorted sets (delayed work) -----------------------------------------------------------------------------------
    ZADD: (a) => {
      const key = a[0] ?? '';
      // NX (only add) and XX (only update): the flags skytide sends, before the pairs.
      let first = 1;
      let nx = false;
      let xx = false;
      for (; first < a.length; first++) {
        const flag = (a[first] ?? '').toUpperCase();
        if (flag === 'NX') nx = true;
        else if (flag === 'XX') xx = true;
        else break;
      }
      if (nx && xx) fail('ERR XX and NX options at the same time are not compatible');
      if (a.length - first < 2 || (a.length - first) % 2 !== 0) fail(SYNTAX);
      const existing = this.typed(key, 'zset');
      if (existing === undefined && xx) return 0;
      const z = existing ?? { kind: 'zset' as const, value: new Map<string, number>() };
      this.data.set(key, z);
      let added = 0;
      for (let i = first; i + 1 < a.length; i += 2) {
        const score = Number(a[i]);
        if (Number.isNaN(score)) fail('ERR value is not a valid float');
        const has = z.value.has(a[i + 1] as string);
        if ((nx && has) || (xx && !has)) continue;
        if (!has) added++;
        z.value.set(a[i + 1] as string, score);
      }
      return added;
    },
    ZREM: (a) => {
      const key = a[0] ?? '';
      const z = this.typed(key, 'zset');
      if (z === undefined) return 0;
      const n = a.slice(1).filter((m) => z.value.delete(m)).length;
      this.dropIfEmpty(key, z.value.size);
      return n;
    },
    ZCARD: (a) => this.typed(a[0] ?? '', 'zset')?.value.size ?? 0,
    ZSCORE: (a) => {
      const v = this.typed(a[0] ?? '', 'zset')?.value.get(a[1] ?? '');
      return v === undefined ? null : String(v);
    },
    ZRANGEBYSCORE: (a) => {
      const bound = (s: string | undefined, lo: boolean): [number, boolean] => {
        const x = s ?? (lo ? '-inf' : '+inf');
        const open = x.startsWith('(');
        const n = x.replace(/^\(/, '');
        const v = n === '-inf' ? -Infinity : n === '+inf' || n === 'inf' ? Infinity : Number(n);
        if (Number.isNaN(v)) fail('ERR min or max is not a float');
        return [v, open];
      };
      const [min, minOpen] = bound(a[1], true);
      const [max, maxOpen] = bound(a[2], false);
      let offset = 0;
      let count = Infinity;
      let withScores = false;
      for (let i = 3; i < a.length; i++) {
        const opt = (a[i] ?? '').toUpperCase();
        if (opt === 'LIMIT') (offset = int(a[i + 1])), (count = int(a[i + 2])), (i += 2);
        else if (opt === 'WITHSCORES') withScores = true;
        else fail(SYNTAX);
      }
      const members = [...(this.typed(a[0] ?? '', 'zset')?.value ?? new Map<string, number>())]
        .filter(([, v]) => (minOpen ? v > min : v >= min) && (maxOpen ? v < max : v <= max))
        .sort(([m1, v1], [m2, v2]) => v1 - v2 || (m1 < m2 ? -1 : m1 > m2 ? 1 : 0))
        .slice(offset, count < 0 ? undefined : offset + count);
      return withScores ? members.flatMap(([m, v]) => [m, String(v)]) : members.map(([m]) => m);
    },

    // --- streams ---------------------------------------------------------------------------------------------------
    XADD: (a) => this.xadd(a),
    XLEN: (a) => this.typed(a[0] ?? '', 'stream')?.entries.length ?? 0,
    XRANGE: (a) => this.xrange(a, false),
    XREVRANGE: (a) => this.xrange(a, true),
    XDEL: (a) => {
      const s = this.typed(a[0] ?? '', 'stream');
      if (s === undefined) return 0;
      const ids = new Set(a.slice(1).map((x) => idKey(parseId(x))).filter((k) => s.byId.has(k)));
      if (ids.size === 0) return 0;
      for (const k of ids) s.byId.delete(k);
      s.entries = s.entries.filter((e) => !ids.has(e.key));
      return ids.size;
    },
    XTRIM: () => fail('ERR XTRIM is not offered: skytide never trims a stream'),
    XGROUP: (a) => this.xgroup(a),
    XACK: (a) => {
      const s = this.typed(a[0] ?? '', 'stream');
      const g = s?.groups.get(a[1] ?? '');
      if (g === undefined) return 0;
      return a.slice(2).filter((x) => g.pel.delete(idKey(parseId(x)))).length;
    },
    XREADGROUP: (a) => this.xreadgroup(a).reply,
    XPENDING: (a) => this.xpending(a),
    XCLAIM: (a) => this.xclaim(a),
    XAUTOCLAIM: (a) => this.xautoclaim(a),
    XINFO: (a) => this.xinfo(a),
  };

  private expire(key: string, ms: number): number {
    if (this.live(key) === undefined) return 0;
    if (ms <= 0) return this.del(key) ? 1 : 0;
    this.expiry.set(key, this.now() + ms);
    return 1;
  }
  private ttl(key: string): number {
    if (this.live(key) === undefined) return -2;
    const at = this.expiry.get(key);
    return at === undefined ? -1 : Math.max(0, at - this.now());
  }
  /** Counters are exact signed 64-bit integers, as in Redis: an overflow is refused and the value kept. */
  private incr(key: string, by: bigint): bigint {
    const v = this.typed(key, 'string');
    const next = int64(v?.value ?? '0') + by;
    if (next < INT64_MIN || next > INT64_MAX) fail(new ReplyError('ERR increment or decrement would overflow'));
    if (v === undefined) this.data.set(key, { kind: 'string', value: String(next) });
    else v.value = String(next);
    return next;
  }
  private hset(a: string[]): number {
    const key = a[0] ?? '';
    if (a.length < 3 || a.length % 2 === 0) fail("ERR wrong number of arguments for 'hset' command");
    const h = this.typed(key, 'hash') ?? { kind: 'hash' as const, value: new Map<string, string>() };
    this.data.set(key, h);
    let added = 0;
    for (let i = 1; i + 1 < a.length; i += 2) {
      if (!h.value.has(a[i] as string)) added++;
      h.value.set(a[i] as string, a[i + 1] as string);
    }
    return added;
  }
  private push(a: string[], left: boolean): number {
    const key = a[0] ?? '';
    const l = this.typed(key, 'list') ?? { kind: 'list' as const, value: [] as string[] };
    this.data.set(key, l);
    for (const v of a.slice(1)) {
      if (left) l.value.unshift(v);
      else l.value.push(v);
    }
    return l.value.length;
  }
  private pop(key: string, left: boolean): Reply {
    const l = this.typed(key, 'list');
    if (l === undefined) return null;
    const v = left ? l.value.shift() : l.value.pop();
    this.dropIfEmpty(key, l.value.length);
    return v ?? null;
  }
  /** Redis's inclusive [start, stop] with negative indexes, clamped. */
  private range(len: number, start: number, stop: number): [number, number] {
    const s = Math.max(0, start < 0 ? len + start : start);
    const e = Math.min(len - 1, stop < 0 ? len + stop : stop);
    return [s, e];
  }

  // --- streams ---------------------------------------------------------------------------------------------------
  stream(key: string): StreamValue | undefined {
    return this.typed(key, 'stream');
  }
  private streamOrNew(key: string): StreamValue {
    const s = this.typed(key, 'stream');
    if (s !== undefined) return s;
    const made: StreamValue = { kind: 'stream', entries: [], byId: new Map(), lastId: [0, 0], groups: new Map() };
    this.data.set(key, made);
    return made;
  }

  private xadd(a: string[]): Reply {
    const key = a[0] ?? '';
    let i = 1;
    let noMk = false;
    for (;;) {
      const opt = (a[i] ?? '').toUpperCase();
      if (opt === 'NOMKSTREAM') (noMk = true), i++;
      else if (opt === 'MAXLEN' || opt === 'MINID') fail('ERR XADD MAXLEN/MINID is not offered: skytide never trims a stream');
      else break;
    }
    const idArg = a[i++];
    const fields = a.slice(i);
    if (idArg === undefined || fields.length === 0 || fields.length % 2 !== 0) fail("ERR wrong number of arguments for 'xadd' command");
    if (noMk && this.live(key) === undefined) return null;
    const s = this.streamOrNew(key);
    let id: Id;
    if (idArg === '*') {
      const ms = Math.max(this.now(), s.lastId[0]);
      id = [ms, ms === s.lastId[0] ? s.lastId[1] + 1 : 0];
    } else {
      id = parseId(idArg);
      if (cmpId(id, s.lastId) <= 0) fail('ERR The ID specified in XADD is equal or smaller than the target stream top item');
    }
    s.lastId = id;
    const k = idKey(id);
    s.entries.push({ id, key: k, fields });
    s.byId.set(k, fields);
    this.onKeyChange(key);
    return k;
  }

  private xrange(a: string[], reverse: boolean): Reply {
    const s = this.typed(a[0] ?? '', 'stream');
    const exclusive = (x: string) => x.startsWith('(');
    const lo = reverse ? a[2] ?? '-' : a[1] ?? '-';
    const hi = reverse ? a[1] ?? '+' : a[2] ?? '+';
    const start = parseId(lo.replace(/^\(/, ''));
    const end = parseId(hi.replace(/^\(/, ''), true);
    let count = Infinity;
    if ((a[3] ?? '').toUpperCase() === 'COUNT') count = int(a[4]);
    if (s === undefined) return [];
    const out: Reply[] = [];
    const list = reverse ? [...s.entries].reverse() : s.entries;
    for (const e of list) {
      if (out.length >= count) break;
      const c1 = cmpId(e.id, start);
      const c2 = cmpId(e.id, end);
      if (c1 < 0 || (c1 === 0 && exclusive(lo)) || c2 > 0 || (c2 === 0 && exclusive(hi))) continue;
      out.push([e.key, e.fields]);
    }
    return out;
  }

  private group(key: string, name: string): { s: StreamValue; g: Group } {
    const s = this.typed(key, 'stream');
    const g = s?.groups.get(name);
    if (s === undefined || g === undefined) fail(`NOGROUP No such key '${key}' or consumer group '${name}'`);
    return { s, g };
  }

  private xgroup(a: string[]): Reply {
    const sub = (a[0] ?? '').toUpperCase();
    const key = a[1] ?? '';
    const name = a[2] ?? '';
    if (sub === 'CREATE') {
      const mk = a.slice(4).some((x) => x.toUpperCase() === 'MKSTREAM');
      if (this.live(key) === undefined && !mk) fail('ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.');
      const s = this.streamOrNew(key);
      if (s.groups.has(name)) fail('BUSYGROUP Consumer Group name already exists');
      s.groups.set(name, { lastDelivered: a[3] === '$' ? s.lastId : parseId(a[3] ?? '0'), pel: new Map(), consumers: new Map() });
      return OK;
    }
    if (sub === 'DESTROY') {
      if (this.typed(key, 'stream')?.groups.delete(name) !== true) return 0;
      this.onKeyChange(key);
      return 1;
    }
    if (sub === 'SETID') {
      const { s, g } = this.group(key, name);
      g.lastDelivered = a[3] === '$' ? s.lastId : parseId(a[3] ?? '0');
      return OK;
    }
    if (sub === 'CREATECONSUMER') {
      const { g } = this.group(key, name);
      if (g.consumers.has(a[3] ?? '')) return 0;
      g.consumers.set(a[3] ?? '', { seenAt: this.now(), activeAt: -1 });
      return 1;
    }
    if (sub === 'DELCONSUMER') {
      const { g } = this.group(key, name);
      const consumer = a[3] ?? '';
      let n = 0;
      for (const [id, p] of g.pel) if (p.consumer === consumer) (g.pel.delete(id), n++);
      g.consumers.delete(consumer);
      return n;
    }
    fail(`ERR unknown subcommand '${a[0] ?? ''}' for XGROUP`);
  }

  private touch(g: Group, consumer: string, active: boolean): void {
    const c = g.consumers.get(consumer) ?? { seenAt: 0, activeAt: -1 };
    c.seenAt = this.now();
    if (active) c.activeAt = this.now();
    g.consumers.set(consumer, c);
  }

  /** Redis's error to an XREADGROUP blocked on `key` whose stream or group is gone; undefined while it may wait. */
  blockedReadGone(key: string, group: string): ReplyError | undefined {
    const v = this.live(key);
    if (v?.kind !== 'stream') return new ReplyError('UNBLOCKED the stream key no longer exists');
    if (!v.groups.has(group)) return new ReplyError('NOGROUP the consumer group this client was blocked on no longer exists');
    return undefined;
  }

  /** XREADGROUP; `empty` says a BLOCK may wait (no entry for any stream). */
  xreadgroup(a: string[]): { reply: Reply; empty: boolean; block?: number; keys: string[] } {
    let i = 0;
    if ((a[i] ?? '').toUpperCase() !== 'GROUP') fail(SYNTAX);
    const groupName = a[i + 1] ?? '';
    const consumer = a[i + 2] ?? '';
    i += 3;
    let count = Infinity;
    let block: number | undefined;
    let noack = false;
    for (; i < a.length; i++) {
      const opt = (a[i] ?? '').toUpperCase();
      if (opt === 'COUNT') count = int(a[++i]);
      else if (opt === 'BLOCK') block = int(a[++i]);
      else if (opt === 'NOACK') noack = true;
      else if (opt === 'STREAMS') break;
      else fail(SYNTAX);
    }
    const rest = a.slice(i + 1);
    if (rest.length === 0 || rest.length % 2 !== 0) fail("ERR Unbalanced 'xreadgroup' list of streams: for each stream key an ID or '>' must be specified.");
    const keys = rest.slice(0, rest.length / 2);
    const ids = rest.slice(rest.length / 2);
    const out: Reply[] = [];
    let empty = true;
    keys.forEach((key, n) => {
      const s = this.typed(key, 'stream');
      const g = s?.groups.get(groupName);
      if (s === undefined || g === undefined) fail(`NOGROUP No such key '${key}' or consumer group '${groupName}' in XREADGROUP with GROUP option`);
      this.touch(g, consumer, false);
      const from = ids[n] ?? '>';
      const items: Reply[] = [];
      if (from === '>') {
        for (const e of s.entries) {
          if (items.length >= count) break;
          if (cmpId(e.id, g.lastDelivered) <= 0) continue;
          g.lastDelivered = e.id;
          if (!noack) g.pel.set(e.key, { consumer, deliveredAt: this.now(), deliveries: 1 });
          items.push([e.key, e.fields]);
        }
        if (items.length > 0) this.touch(g, consumer, true);
        if (items.length > 0) empty = false;
        if (items.length > 0) out.push([key, items]);
      } else {
        // History: this consumer's pending entries after `from`; a deleted one with a null array for its fields and,
        // as Redis does, no delivery counted (its idle time goes on).
        const after = parseId(from);
        const mine = [...g.pel].filter(([id, p]) => p.consumer === consumer && cmpId(parseId(id), after) > 0)
          .sort(([x], [y]) => cmpId(parseId(x), parseId(y)));
        for (const [id, p] of mine) {
          if (items.length >= count) break;
          const fields = s.byId.get(id);
          if (fields === undefined) {
            items.push([id, NULL_ARRAY]);
            continue;
          }
          p.deliveries++;
          p.deliveredAt = this.now();
          items.push([id, fields]);
        }
        empty = false;
        out.push([key, items]);
      }
    });
    return { reply: out.length === 0 ? NULL_ARRAY : out, empty, ...(block === undefined ? {} : { block }), keys };
  }

  private xpending(a: string[]): Reply {
    const { g } = this.group(a[0] ?? '', a[1] ?? '');
    if (a.length === 2) {
      if (g.pel.size === 0) return [0, null, null, null];
      const ids = [...g.pel.keys()].map((k) => parseId(k)).sort(cmpId);
      const per = new Map<string, number>();
      for (const p of g.pel.values()) per.set(p.consumer, (per.get(p.consumer) ?? 0) + 1);
      return [g.pel.size, idKey(ids[0] as Id), idKey(ids[ids.length - 1] as Id), byName([...per]).map(([c, n]) => [c, String(n)])];
    }
    let i = 2;
    let minIdle = 0;
    if ((a[i] ?? '').toUpperCase() === 'IDLE') (minIdle = int(a[i + 1])), (i += 2);
    // `(id` is exclusive (Redis 6.2+): the consumers page by it, after the last id they read.
    const lo = a[i] ?? '-';
    const hi = a[i + 1] ?? '+';
    const start = parseId(lo.replace(/^\(/, ''));
    const end = parseId(hi.replace(/^\(/, ''), true);
    const [startOpen, endOpen] = [lo.startsWith('('), hi.startsWith('(')];
    const count = int(a[i + 2]);
    const consumer = a[i + 3];
    const now = this.now();
    return [...g.pel]
      .filter(([id, p]) => {
        const x = parseId(id);
        const [fromStart, toEnd] = [cmpId(x, start), cmpId(end, x)];
        return (startOpen ? fromStart > 0 : fromStart >= 0) && (endOpen ? toEnd > 0 : toEnd >= 0)
          && (consumer === undefined || p.consumer === consumer) && now - p.deliveredAt >= minIdle;
      })
      .sort(([x], [y]) => cmpId(parseId(x), parseId(y)))
      .slice(0, count)
      .map(([id, p]) => [id, p.consumer, now - p.deliveredAt, p.deliveries]);
  }

  private xclaim(a: string[]): Reply {
    const key = a[0] ?? '';
    const { s, g } = this.group(key, a[1] ?? '');
    const consumer = a[2] ?? '';
    const minIdle = int(a[3]);
    const ids: string[] = [];
    let justId = false;
    let force = false;
    let idle: number | undefined;
    let retry: number | undefined;
    for (let i = 4; i < a.length; i++) {
      const x = a[i] as string;
      const up = x.toUpperCase();
      if (up === 'JUSTID') justId = true;
      else if (up === 'FORCE') force = true;
      else if (up === 'IDLE') idle = int(a[++i]);
      else if (up === 'TIME') idle = this.now() - int(a[++i]);
      else if (up === 'RETRYCOUNT') retry = int(a[++i]);
      else if (up === 'LASTID') i++;
      else ids.push(idKey(parseId(x)));
    }
    const now = this.now();
    const out: Reply[] = [];
    for (const id of ids) {
      // As Redis 7: a pending entry whose data was deleted leaves the PEL first, however recently it was delivered.
      if (!s.byId.has(id)) {
        g.pel.delete(id);
        continue;
      }
      let p = g.pel.get(id);
      if (p === undefined) {
        if (!force) continue;
        // FORCE's new PEL entry counts one delivery, and no idle time is asked of it.
        p = { consumer, deliveredAt: now, deliveries: 1 };
        g.pel.set(id, p);
      } else if (now - p.deliveredAt < minIdle) continue;
      p.consumer = consumer;
      p.deliveredAt = now - (idle ?? 0);
      if (retry !== undefined) p.deliveries = retry;
      else if (!justId) p.deliveries++;
      out.push(justId ? id : [id, s.byId.get(id) ?? null]);
    }
    this.touch(g, consumer, out.length > 0);
    return out;
  }

  private xautoclaim(a: string[]): Reply {
    const key = a[0] ?? '';
    const { s, g } = this.group(key, a[1] ?? '');
    const consumer = a[2] ?? '';
    const minIdle = int(a[3]);
    const start = parseId(a[4] ?? '0-0');
    let count = 100;
    let justId = false;
    for (let i = 5; i < a.length; i++) {
      const up = (a[i] ?? '').toUpperCase();
      if (up === 'COUNT') count = int(a[++i]);
      else if (up === 'JUSTID') justId = true;
      else fail(SYNTAX);
    }
    if (count < 1) fail('ERR COUNT must be > 0');
    const now = this.now();
    const ordered = [...g.pel.keys()].map((k) => parseId(k)).filter((x) => cmpId(x, start) >= 0).sort(cmpId);
    const claimed: Reply[] = [];
    const deleted: string[] = [];
    // As Redis 7: at most count * 10 PEL entries looked at; a deleted entry is taken off the PEL and listed whatever
    // its idle time, and counts against COUNT as a claimed one does.
    let attempts = count * 10;
    let left = count;
    let i = 0;
    for (; i < ordered.length && attempts > 0 && left > 0; i++) {
      attempts--;
      const id = idKey(ordered[i] as Id);
      const p = g.pel.get(id) as Pending;
      if (!s.byId.has(id)) {
        g.pel.delete(id);
        deleted.push(id);
        left--;
        continue;
      }
      if (now - p.deliveredAt < minIdle) continue;
      p.consumer = consumer;
      p.deliveredAt = now;
      if (!justId) p.deliveries++;
      claimed.push(justId ? id : [id, s.byId.get(id) ?? null]);
      left--;
    }
    const next = i < ordered.length ? idKey(ordered[i] as Id) : '0-0';
    this.touch(g, consumer, claimed.length > 0);
    return [next, claimed, deleted];
  }

  private xinfo(a: string[]): Reply {
    const sub = (a[0] ?? '').toUpperCase();
    const now = this.now();
    if (sub === 'CONSUMERS') {
      const s = this.typed(a[1] ?? '', 'stream');
      if (s === undefined) fail('ERR no such key');
      const g = s.groups.get(a[2] ?? '');
      if (g === undefined) fail(`NOGROUP No such consumer group '${a[2] ?? ''}' for key name '${a[1] ?? ''}'`);
      return byName([...g.consumers]).map(([name, c]) => {
        const pending = [...g.pel.values()].filter((p) => p.consumer === name).length;
        return ['name', name, 'pending', pending, 'idle', now - c.seenAt, 'inactive', c.activeAt < 0 ? -1 : now - c.activeAt];
      });
    }
    if (sub === 'GROUPS') {
      const s = this.typed(a[1] ?? '', 'stream');
      if (s === undefined) fail('ERR no such key');
      return [...s.groups].map(([name, g]) => ['name', name, 'consumers', g.consumers.size, 'pending', g.pel.size, 'last-delivered-id', idKey(g.lastDelivered)]);
    }
    if (sub === 'STREAM') {
      const s = this.typed(a[1] ?? '', 'stream');
      if (s === undefined) fail('ERR no such key');
      const first = s.entries[0];
      const last = s.entries[s.entries.length - 1];
      return ['length', s.entries.length, 'last-generated-id', idKey(s.lastId), 'groups', s.groups.size,
        'first-entry', first === undefined ? null : [first.key, first.fields], 'last-entry', last === undefined ? null : [last.key, last.fields]];
    }
    fail(`ERR unknown subcommand '${a[0] ?? ''}' for XINFO`);
  }
}
