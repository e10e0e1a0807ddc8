// The in-process Redis runs no Lua: each of skytide's scripts has a JS twin here, found by the SHA1 of the script's
// exact text (what EVALSHA sends). The twins call the store's commands as the Lua does with redis.call, in the same
// order, so what they write and answer is the same. A script without a twin is refused with a clear error (and the
// test tests/integration/dev/memory-redis.test.ts checks that every script in adapters/redis and adapters/queue has one).
// A batch with a seq cursor is one generated script (adapters/redis/once-batch-script.ts) whose text holds the
// scripts its steps run; each set of skytide's scripts gives another text, so each has a twin here (onceBatchTwin),
// which runs the inlined scripts' own twins.
import { createHash } from 'node:crypto';
import { CURSOR_FLOOR, RAISE_SEQ_CURSOR } from '../../../adapters/redis/cursor-store.ts';
import { RELEASE_PARKED } from '../../../adapters/redis/identity-waits.ts';
import { REPO_ADVANCE } from '../../../adapters/redis/repo-state.ts';
import { AMEND, APPEND, LEASE_GUARD, RELEASE, RENEW } from '../../../adapters/redis/lease.ts';
import { DELETE_IF_EMPTY } from '../../../adapters/redis/group-consumers.ts';
import { SETTLE } from '../../../adapters/redis/consumer-group.ts';
import { MOVE_LETTERS } from '../../../adapters/redis/dead-letters.ts';
import { HEAD_LABELS, INVALID_PARKED_ENTRY, PARK_LABELS, RECOUNT_PARKED, RELEASE_DUE_LABELS, RELEASE_LABELS } from '../../../adapters/redis/label-parking.ts';
import { INVALID_DELAYED_ENTRY, PROMOTE_DUE } from '../../../adapters/queue/redis-work-queue.ts';
import { compileOnceBatch, everyScriptSet, GUARD_CODES, REFUSALS } from '../../../adapters/redis/once-batch-script.ts';
import type { RedisScript } from '../../../adapters/redis/scripts.ts';
import { CommandError, type Store } from './store.ts';
import { ReplyError, Status, type Reply } from './resp.ts';

export type ScriptTwin = (store: Store, keys: readonly string[], argv: readonly string[]) => Reply;

export const sha1 = (text: string): string => createHash('sha1').update(Buffer.from(text, 'latin1')).digest('hex');

/** Lua's string comparison: byte order. */
const before = (a: string, b: string): boolean => Buffer.compare(Buffer.from(a, 'latin1'), Buffer.from(b, 'latin1')) < 0;

const k = (keys: readonly string[], i: number): string => keys[i] ?? '';

/** Lua's tonumber of a string, for the values skytide stores (decimal, optionally signed or with spaces around). */
function luaNumber(text: string): number | undefined {
  const t = text.trim();
  return /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t) ? Number(t) : undefined;
}

/** wrongTypeOf of adapters/redis/lua/key-types.ts: the key's type when it is neither `want` nor absent. */
function wrongTypeOf(s: Store, key: string, want: string): string | undefined {
  const type = s.exec(['TYPE', key]);
  const t = type instanceof Status ? type.text : String(type);
  return t !== want && t !== 'none' ? t : undefined;
}

/** refusedType of adapters/redis/lua/key-types.ts: what a script answers instead of writing to a key of another type. */
function refusedType(s: Store, key: string, want: string): string | undefined {
  const t = wrongTypeOf(s, key, want);
  return t === undefined ? undefined : `${key} is a ${t}, not a ${want}`;
}

/**
 * stringArrayOf of adapters/redis/lua/stored-members.ts: a stored member's elements (a JSON array of strings, `lead`
 * of them then at least one pair), or what is wrong with it. The store holds bytes (latin1 strings); cjson reads them
 * as UTF-8 and gives the strings back as bytes.
 */
function stringArrayOf(m: string, lead: number, shape: string): string[] | string {
  let e: unknown;
  try {
    e = JSON.parse(Buffer.from(m, 'latin1').toString('utf8'));
  } catch {
    return 'is not JSON (truncated?)';
  }
  if (typeof e !== 'object' || e === null) return 'is not a JSON array';
  // cjson reads an object into a table whose length is 0.
  const n = Array.isArray(e) ? e.length : 0;
  if (n < lead + 2 || (n - lead) % 2 !== 0) return `has ${n} elements, not ${shape}`;
  const bad = (e as unknown[]).findIndex((f) => typeof f !== 'string');
  if (bad >= 0) return `has an element ${bad + 1} that is not a string`;
  return (e as string[]).map((f) => Buffer.from(f, 'utf8').toString('latin1'));
}

/** deadLetterMember of adapters/redis/lua/stored-members.ts. */
function deadLetterMember(s: Store, dlq: string, field: string, m: string, reason: string, error: string): void {
  s.exec(['XADD', dlq, '*', field, m, 'reason', reason, 'attempts', '0', 'error', error]);
}

/** The scripts a batch may run (stream-writer.ts's `script` ops), which the once-batch script inlines. */
const BATCH_SCRIPTS: [RedisScript, ScriptTwin][] = [
  [RAISE_SEQ_CURSOR, (s, keys, argv) => {
    const stored = s.exec(['GET', k(keys, 0)]);
    if (typeof stored === 'string') {
      if (!/^\d+$/.test(stored)) return new ReplyError(`cursor ${k(keys, 0)} holds a value that is not a seq`);
      if (Number(stored) >= Number(argv[0])) return stored;
    }
    s.exec(['SET', k(keys, 0), argv[0] ?? '']);
    return argv[0] ?? null;
  }],
  [CURSOR_FLOOR, (s, keys, argv) => {
    const stored = s.exec(['GET', k(keys, 0)]);
    // Lua's tonumber: a decimal (or hex, or exponent) number, else nil; such a value passes.
    const n = typeof stored === 'string' ? luaNumber(stored) : undefined;
    if (typeof stored === 'string' && n === undefined) return 1;
    if (n === undefined || n < Number(argv[0])) return new ReplyError(`BEHIND ${k(keys, 0)} holds ${typeof stored === 'string' ? stored : 'nothing'}, below ${argv[0] ?? ''} this writer stored`);
    return 1;
  }],
  [LEASE_GUARD, (s, keys, argv) => {
    if (s.exec(['GET', k(keys, 0)]) !== (argv[0] ?? '')) return new ReplyError(`LEASELOST ${k(keys, 0)} is not held by this writer`);
    return 1;
  }],
  [RELEASE_PARKED, (s, keys, argv) => {
    const count = Math.trunc(Number(argv[0]));
    if (count > 0 && (Number(s.exec(['LLEN', k(keys, 0)])) < count || s.exec(['LINDEX', k(keys, 0), '0']) !== (argv[2] ?? ''))) return -1;
    s.exec(['LTRIM', k(keys, 0), String(count), '-1']);
    const left = s.exec(['LLEN', k(keys, 0)]);
    if (left === 0) s.exec(['HDEL', k(keys, 1), argv[1] ?? '']);
    return left;
  }],
  [REPO_ADVANCE, (s, keys, argv) => {
    const arg = (i: number) => argv[i - 1] ?? '';
    const [rev, data, prevData, since] = [arg(2), arg(3), arg(4), arg(8)];
    let lastRev: string | undefined;
    let lastData: string | undefined;
    let afterSync = false;
    let inductive = false;
    const stored = s.exec(['GET', k(keys, 0)]);
    if (typeof stored === 'string') {
      try {
        const state: unknown = JSON.parse(Buffer.from(stored, 'latin1').toString('utf8'));
        if (typeof state === 'object' && state !== null && typeof (state as { rev?: unknown }).rev === 'string') {
          lastRev = Buffer.from((state as { rev: string }).rev, 'utf8').toString('latin1');
          const d = (state as { data?: unknown }).data;
          if (typeof d === 'string') lastData = Buffer.from(d, 'utf8').toString('latin1');
          afterSync = (state as { afterSync?: unknown }).afterSync === true;
          inductive = (state as { inductive?: unknown }).inductive === true;
        }
      } catch {
        // cjson.decode failed under pcall: as if nothing were stored.
      }
    }
    let status = 1;
    if (arg(1) === 'sync') {
      if (lastRev === rev && data !== '' && lastData === data) return 3;
      if (lastRev !== undefined && !before(lastRev, rev)) return 0;
      if (data !== '' && lastData === data) status = 3;
      else if (arg(7) !== '') s.exec(['XADD', k(keys, 2), '*', 'repo', arg(7)]);
    } else {
      if (lastRev !== undefined && !before(lastRev, rev)) return 0;
      if (lastData !== undefined && prevData !== lastData && (prevData !== '' || inductive)) {
        status = 2;
        if (arg(7) !== '') s.exec(['XADD', k(keys, 2), '*', 'repo', arg(7)]);
      } else if (lastRev !== undefined && !afterSync && since !== lastRev && (since !== '' || inductive)) {
        status = 4;
        if (arg(9) !== '') s.exec(['XADD', k(keys, 2), '*', 'repo', arg(9)]);
      }
    }
    for (let i = 10; i <= argv.length; i += 2) {
      if (arg(i) === '1') s.exec(['XADD', k(keys, 1), '*', 'event', arg(i + 1)]);
      else s.exec(['XADD', k(keys, 2), '*', 'repo', arg(i + 1)]);
    }
    const state = inductive || (arg(1) === 'commit' && prevData !== '') ? `${arg(6).slice(0, -1)},"inductive":true}` : arg(6);
    s.exec(['SET', k(keys, 0), state, 'PX', arg(5)]);
    return status;
  }],
];

/**
 * The once-batch script with `inlined` (name -> twin) in it, as its Lua does: nothing when the marker (KEYS[1])
 * holds the token (ARGV[1]); a WRONGTYPE error, nothing written, when a key has another type than its step declares;
 * else each step in order, its reply (an error reply too, as redis.pcall gives it) in
 * its slot (a refusal of every write, REFUSALS, ends the script with it instead), then the token stored. An empty
 * token means no marker: no KEYS[1], nothing read or stored for it.
 */
function onceBatchTwin(inlined: ReadonlyMap<string, ScriptTwin>): ScriptTwin {
  return (s, keys, argv) => {
    const once = argv[0] !== '';
    if (once && s.exec(['GET', k(keys, 0)]) === argv[0]) return [0];
    const first = once ? 1 : 0;
    const checked = new Set<string>();
    for (let key = first, a = 1, step = 1; a < argv.length; step++) {
      const [nk, na] = [Number(argv[a + 1]), Number(argv[a + 2])];
      // A count that is not a number stops Lua's `for` with an error: the whole script fails.
      if (Number.isNaN(nk) || Number.isNaN(na)) throw new CommandError(new ReplyError("'for' limit must be a number"));
      for (let i = 1; i <= nk; i++, key++) {
        const [want, name] = [argv[a + 2 + i] ?? '', k(keys, key)];
        if (want === '' || checked.has(name)) continue;
        const t = wrongTypeOf(s, name, want);
        // redis.error_reply, returned: the error reply as written, not wrapped as a redis.call that raised.
        if (t !== undefined) return new ReplyError(`WRONGTYPE step ${step} needs ${name} to be a ${want} but it is a ${t}: nothing of the batch was written`);
        checked.add(name);
      }
      a += 3 + nk + na;
    }
    const out: Reply[] = [1];
    let key = first;
    let a = 1;
    while (a < argv.length) {
      const [kind, nk, na] = [argv[a], Number(argv[a + 1]), Number(argv[a + 2])];
      a += 3 + Math.max(0, Math.floor(nk));
      const stepKeys = Array.from({ length: Math.max(0, Math.floor(nk)) }, () => k(keys, key++));
      const args = Array.from({ length: Math.max(0, Math.floor(na)) }, () => argv[a++] ?? '');
      let reply: Reply;
      if (kind === 'x') reply = s.run(['XADD', stepKeys[0] ?? '', '*', ...args]);
      else if (kind === 'c') reply = s.run(nk === 1 ? [args[0] ?? '', stepKeys[0] ?? '', ...args.slice(1)] : args);
      else {
        const twin = inlined.get(args[0] ?? '');
        if (twin === undefined) reply = new ReplyError('attempt to call a nil value');
        else {
          try {
            reply = twin(s, stepKeys, args.slice(1));
          } catch (err) {
            // pcall around the inlined script: a redis.call that raised is its error reply, in this step's slot.
            if (!(err instanceof CommandError)) throw err;
            reply = err.reply;
          }
        }
      }
      // A refusal of every write (this Redis makes none: it has no maxmemory and no replicas) ends the script.
      // So does a guard step that refuses (GUARD_CODES). redis.error_reply, returned: the error reply as it is.
      if (reply instanceof ReplyError && ([...REFUSALS, ...GUARD_CODES] as readonly string[]).includes(/^[A-Z]+/.exec(reply.text)?.[0] ?? '')) return reply;
      out.push(reply);
    }
    if (once) s.exec(['SET', k(keys, 0), argv[0] ?? '']);
    return out;
  };
}

/** A twin for every text compileOnceBatch gives for a set of the batch scripts. */
const ONCE_BATCH_TWINS: [string, ScriptTwin][] = everyScriptSet(BATCH_SCRIPTS.map(([script]) => script)).map((set) => {
  const byName = new Map(set.map((script) => [script.name, BATCH_SCRIPTS.find(([s]) => s === script)![1]] as const));
  return [compileOnceBatch(set).lua, onceBatchTwin(byName)];
});

/** entryOf of label-parking.ts's MEMBERS_LUA: a parked member's elements, or what is wrong with it. */
const parkedEntryOf = (m: string): string[] | string => stringArrayOf(m, 3, 'a labeler host, a source DID, a time and fields in pairs');

/** uncount of MEMBERS_LUA. */
function uncountParked(s: Store, m: string, from: string): void {
  const labeler = /^[ \t\n\v\f\r]*\[[ \t\n\v\f\r]*"([^"]+)"/.exec(m)?.[1];
  if (labeler !== undefined && Number(s.exec(['HINCRBY', from, labeler, '-1'])) <= 0) s.exec(['HDEL', from, labeler]);
}

/** dueSetOf of MEMBERS_LUA: a not-due list from before made a set in place. */
function dueSetOf(s: Store, key: string, from: string): void {
  const type = s.exec(['TYPE', key]);
  if ((type instanceof Status ? type.text : String(type)) !== 'list') return;
  const got = s.exec(['LRANGE', key, '0', '-1']);
  s.exec(['DEL', key]);
  for (const m of Array.isArray(got) ? got.filter((x): x is string => typeof x === 'string') : []) {
    const e = parkedEntryOf(m);
    const due = Array.isArray(e) ? /^due:(-?\d+):/.exec(e[1] ?? '')?.[1] : undefined;
    if (Number(s.exec(['ZADD', key, due ?? '0', m])) === 0) uncountParked(s, m, from);
  }
}

/** refusedDueSet of MEMBERS_LUA. */
function refusedDueSet(s: Store, key: string): string | undefined {
  const t = wrongTypeOf(s, key, 'zset');
  return t !== undefined && t !== 'list' ? `${key} is a ${t}, not a zset` : undefined;
}

/** setAside of MEMBERS_LUA. */
function setParkedAside(s: Store, m: string, problem: string, dlq: string, from: string, host: string): void {
  deadLetterMember(s, dlq, 'parked', m, INVALID_PARKED_ENTRY,
    `parked label_live entry of source host ${host} ${problem}: set aside so the rest of the host is released`);
  uncountParked(s, m, from);
}

/**
 * releaseMembers of MEMBERS_LUA (KEYS: list or set, stream, hosts, counts, DLQ): every member read before anything is
 * written. Answers the problems of those set aside, or the refusal of a DLQ of another type (nothing written).
 */
function releaseParkedMembers(s: Store, members: readonly string[], keys: readonly string[], host: string): string[] | string {
  const decoded = members.map(parkedEntryOf);
  const problems = decoded.filter((e): e is string => typeof e === 'string');
  if (problems.length > 0) {
    const dlq = refusedType(s, k(keys, 4), 'stream');
    if (dlq !== undefined) return dlq;
  }
  decoded.forEach((e, i) => {
    if (typeof e === 'string') return setParkedAside(s, members[i] ?? '', e, k(keys, 4), k(keys, 3), host);
    s.exec(['XADD', k(keys, 1), '*', ...e.slice(3)]);
    if (Number(s.exec(['HINCRBY', k(keys, 3), e[0] ?? '', '-1'])) <= 0) s.exec(['HDEL', k(keys, 3), e[0] ?? '']);
  });
  return problems;
}

const TWINS: [string, ScriptTwin][] = [
  ...BATCH_SCRIPTS.map(([script, twin]): [string, ScriptTwin] => [script.lua, twin]),
  ...ONCE_BATCH_TWINS,
  [RENEW, (s, keys, argv) => (s.exec(['GET', k(keys, 0)]) === argv[0] ? s.exec(['PEXPIRE', k(keys, 0), argv[1] ?? '']) : 0)],
  [RELEASE, (s, keys, argv) => (s.exec(['GET', k(keys, 0)]) === argv[0] ? s.exec(['DEL', k(keys, 0)]) : 0)],
  [APPEND, (s, keys, argv) => {
    if (s.exec(['GET', k(keys, 0)]) !== argv[0]) return 0;
    const refused = refusedType(s, k(keys, 2), 'string') ?? (argv.length >= 5 ? refusedType(s, k(keys, 1), 'stream') : undefined)
      ?? ((argv[2] ?? '') !== '' ? refusedType(s, k(keys, 3), 'set') : undefined);
    if (refused !== undefined) return refused;
    for (let i = 4; i < argv.length; i++) s.exec(['XADD', k(keys, 1), '*', argv[3] ?? '', argv[i] ?? '']);
    if ((argv[2] ?? '') !== '') s.exec(['SADD', k(keys, 3), argv[2] ?? '']);
    s.exec(['SET', k(keys, 2), argv[1] ?? '']);
    return 1;
  }],
  [AMEND, (s, keys, argv) => {
    if (s.exec(['GET', k(keys, 0)]) !== argv[0]) return 0;
    const removed = Number(argv[2]);
    const added = Number(argv[3]);
    const refused = refusedType(s, k(keys, 2), 'set') ?? (argv.length >= 5 + removed + added ? refusedType(s, k(keys, 1), 'stream') : undefined);
    if (refused !== undefined) return refused;
    for (let i = 4 + removed + added; i < argv.length; i++) s.exec(['XADD', k(keys, 1), '*', argv[1] ?? '', argv[i] ?? '']);
    for (let i = 4; i < 4 + removed; i++) s.exec(['SREM', k(keys, 2), argv[i] ?? '']);
    for (let i = 4 + removed; i < 4 + removed + added; i++) s.exec(['SADD', k(keys, 2), argv[i] ?? '']);
    return 1;
  }],
  [SETTLE, (s, keys, argv) => {
    const [stream, dlq, group] = [k(keys, 0), k(keys, 1), argv[0] ?? ''];
    const acks = Number(argv[1]);
    // A count that is not a number fails Lua's arithmetic: the whole script fails.
    if (Number.isNaN(acks)) throw new CommandError(new ReplyError('attempt to perform arithmetic on a nil value'));
    let a = 2 + acks;
    if (a < argv.length) {
      const refused = refusedType(s, dlq, 'stream') ?? (keys.length > 2 ? refusedType(s, k(keys, 2), 'zset') : undefined);
      if (refused !== undefined) return refused;
    }
    let acked = 0;
    let lettered = 0;
    let requeued = 0;
    while (a < argv.length) {
      const [id, to, n] = [argv[a] ?? '', argv[a + 1], Number(argv[a + 2])];
      const held = s.exec(['XPENDING', stream, group, id, id, '1']);
      if (Array.isArray(held) && held.length > 0) {
        if (to === 'z') {
          s.exec(['ZADD', k(keys, 2), argv[a + 3] ?? '', argv[a + 4] ?? '']);
          requeued++;
        } else if (to === 's') {
          s.exec(['XADD', stream, '*', ...argv.slice(a + 3, a + 3 + n)]);
          requeued++;
        } else {
          s.exec(['XADD', dlq, '*', ...argv.slice(a + 3, a + 3 + n)]);
          lettered++;
        }
        s.exec(['XACK', stream, group, id]);
        s.exec(['XDEL', stream, id]);
      }
      a += 3 + n;
    }
    for (let i = 2; i < 2 + acks; i += 500) {
      const ids = argv.slice(i, Math.min(i + 500, 2 + acks));
      acked += Number(s.exec(['XACK', stream, group, ...ids]));
      s.exec(['XDEL', stream, ...ids]);
    }
    return [acked, lettered, requeued];
  }],
  [MOVE_LETTERS, (s, keys, argv) => {
    const [dlq, stream] = [k(keys, 0), k(keys, 1)];
    const refused = refusedType(s, stream, 'stream') ?? refusedType(s, dlq, 'stream');
    if (refused !== undefined) return refused;
    let moved = 0;
    for (let a = 0; a < argv.length;) {
      const [id, n] = [argv[a] ?? '', Number(argv[a + 1])];
      // A count that is not a number fails Lua's arithmetic: the whole script fails.
      if (Number.isNaN(n)) throw new CommandError(new ReplyError('attempt to perform arithmetic on a nil value'));
      const held = s.exec(['XRANGE', dlq, id, id]);
      if (Array.isArray(held) && held.length > 0) {
        s.exec(['XADD', stream, '*', ...argv.slice(a + 2, a + 2 + n)]);
        s.exec(['XDEL', dlq, id]);
        moved++;
      }
      a += 2 + n;
    }
    return moved;
  }],
  [PROMOTE_DUE.lua, (s, keys, argv) => {
    // tonumber(ARGV[2]): nil for what is not a number, which redis.call refuses as an argument.
    const count = (argv[1] ?? '').trim() === '' ? NaN : Number((argv[1] ?? '').trim());
    if (Number.isNaN(count)) throw new CommandError(new ReplyError('ERR Lua redis lib command arguments must be strings or integers'));
    const due = s.exec(['ZRANGEBYSCORE', k(keys, 0), '-inf', argv[0] ?? '', 'LIMIT', '0', String(count)]);
    const members = Array.isArray(due) ? due.filter((m): m is string => typeof m === 'string') : [];
    // Members are what the queue's send writes: an array of strings, a random first element, then field, value, ...
    // Every one is read before anything is written, as the Lua does.
    const decoded = members.map((member) => stringArrayOf(member, 1, 'a random id, then field, value, ...'));
    const damaged = decoded.some((fields) => !Array.isArray(fields));
    const refused = refusedType(s, k(keys, 1), 'stream') ?? (damaged ? refusedType(s, k(keys, 2), 'stream') : undefined);
    if (refused !== undefined) return refused;
    let invalid = 0;
    for (const [i, member] of members.entries()) {
      const fields = decoded[i];
      if (Array.isArray(fields)) s.exec(['XADD', k(keys, 1), '*', ...fields.slice(1)]);
      else {
        invalid++;
        deadLetterMember(s, k(keys, 2), 'delayed', member, INVALID_DELAYED_ENTRY,
          'a delayed member that is not a JSON array of a random id, then field, value, ...');
      }
      s.exec(['ZREM', k(keys, 0), member]);
    }
    return [members.length - invalid, invalid];
  }],
  [PARK_LABELS, (s, keys, argv) => {
    const checks: (() => string | undefined)[] = [() => refusedType(s, k(keys, 0), 'stream'), () => refusedType(s, k(keys, 1), 'zset'), () => refusedType(s, k(keys, 2), 'hash')];
    for (let a = 2; a < argv.length; a += 6) {
      const key = k(keys, Number(argv[a + 1]) - 1);
      checks.push(argv[a + 5] === '' ? () => refusedType(s, key, 'list') : () => refusedDueSet(s, key));
    }
    for (const check of checks) {
      const refused = check();
      if (refused !== undefined) return refused;
    }
    const [stream, group] = [k(keys, 0), argv[0] ?? ''];
    const out: number[] = [];
    for (let a = 2; a < argv.length; a += 6) {
      const [id, key, host, due] = [argv[a] ?? '', k(keys, Number(argv[a + 1]) - 1), argv[a + 2] ?? '', argv[a + 5] ?? ''];
      const held = s.exec(['XPENDING', stream, group, id, id, '1']);
      if (Array.isArray(held) && held.length > 0) {
        let added = 1;
        if (due === '') {
          s.exec(['RPUSH', key, argv[a + 4] ?? '']);
          s.exec(['ZADD', k(keys, 1), 'NX', argv[1] ?? '', host]);
        } else {
          dueSetOf(s, key, k(keys, 2));
          added = Number(s.exec(['ZADD', key, due, argv[a + 4] ?? '']));
          const got = s.exec(['ZRANGEBYSCORE', key, '-inf', '+inf', 'WITHSCORES', 'LIMIT', '0', '1']);
          const first = String(Array.isArray(got) ? got[1] : '');
          const at = s.exec(['ZSCORE', k(keys, 1), host]);
          if (typeof at !== 'string' || Number(first) < Number(at)) s.exec(['ZADD', k(keys, 1), first, host]);
        }
        if (added === 1) s.exec(['HINCRBY', k(keys, 2), argv[a + 3] ?? '', '1']);
        s.exec(['XACK', stream, group, id]);
        s.exec(['XDEL', stream, id]);
        out.push(1);
      } else out.push(0);
    }
    return out;
  }],
  [HEAD_LABELS, (s, keys, argv) => {
    const host = argv[0] ?? '';
    let aside = 0;
    let said = '';
    for (;;) {
      const m = s.exec(['LINDEX', k(keys, 0), '0']);
      if (typeof m !== 'string') return [aside, said];
      const e = parkedEntryOf(m);
      if (Array.isArray(e)) return [aside, said, e[1] ?? '', e[2] ?? ''];
      if (aside >= Number(argv[1])) return [aside, said, '', '', 'more'];
      const refused = refusedType(s, k(keys, 3), 'stream') ?? refusedType(s, k(keys, 2), 'hash') ?? refusedType(s, k(keys, 1), 'zset');
      if (refused !== undefined) return refused;
      s.exec(['LPOP', k(keys, 0)]);
      setParkedAside(s, m, e, k(keys, 3), k(keys, 2), host);
      aside++;
      if (said === '') said = e;
      if (s.exec(['LLEN', k(keys, 0)]) === 0) s.exec(['ZREM', k(keys, 1), host]);
    }
  }],
  [RELEASE_LABELS, (s, keys, argv) => {
    const refused = refusedType(s, k(keys, 1), 'stream') ?? refusedType(s, k(keys, 2), 'zset') ?? refusedType(s, k(keys, 3), 'hash');
    if (refused !== undefined) return refused;
    const got = s.exec(['LRANGE', k(keys, 0), '0', String(Number(argv[0]) - 1)]);
    const members = Array.isArray(got) ? got.filter((m): m is string => typeof m === 'string') : [];
    const released = releaseParkedMembers(s, members, keys, argv[1] ?? '');
    if (typeof released === 'string') return released;
    s.exec(['LTRIM', k(keys, 0), String(members.length), '-1']);
    const left = Number(s.exec(['LLEN', k(keys, 0)]));
    if (left === 0) s.exec(['ZREM', k(keys, 2), argv[1] ?? '']);
    return [members.length - released.length, left, released.length, released[0] ?? ''];
  }],
  [RELEASE_DUE_LABELS, (s, keys, argv) => {
    const refused = refusedDueSet(s, k(keys, 0)) ?? refusedType(s, k(keys, 1), 'stream') ?? refusedType(s, k(keys, 2), 'zset') ?? refusedType(s, k(keys, 3), 'hash');
    if (refused !== undefined) return refused;
    const [set, host] = [k(keys, 0), argv[2] ?? ''];
    dueSetOf(s, set, k(keys, 3));
    const got = s.exec(['ZRANGEBYSCORE', set, '-inf', argv[0] ?? '', 'LIMIT', '0', String(Number(argv[1]))]);
    const members = Array.isArray(got) ? got.filter((m): m is string => typeof m === 'string') : [];
    const problems = releaseParkedMembers(s, members, keys, host);
    if (typeof problems === 'string') return problems;
    for (const m of members) s.exec(['ZREM', set, m]);
    const left = Number(s.exec(['ZCARD', set]));
    if (left === 0) s.exec(['ZREM', k(keys, 2), host]);
    else {
      const first = s.exec(['ZRANGEBYSCORE', set, '-inf', '+inf', 'WITHSCORES', 'LIMIT', '0', '1']);
      s.exec(['ZADD', k(keys, 2), String(Array.isArray(first) ? first[1] : ''), host]);
    }
    return [members.length - problems.length, left, problems.length, problems[0] ?? ''];
  }],
  [RECOUNT_PARKED, (s, keys, argv) => {
    const due = s.exec(['ZRANGEBYSCORE', k(keys, 0), '-inf', '+inf']);
    if (Array.isArray(due) && due.some((host) => !argv.includes(String(host)))) return 'stale';
    const counts = new Map<string, number>();
    for (const list of keys.slice(2)) {
      const type = s.exec(['TYPE', list]);
      const set = (type instanceof Status ? type.text : String(type)) === 'zset';
      const n = Number(s.exec(set ? ['ZCARD', list] : ['LLEN', list]));
      for (let at = 0; at < n; at += 1000) {
        const got = s.exec(set ? ['ZRANGEBYSCORE', list, '-inf', '+inf', 'LIMIT', String(at), '1000'] : ['LRANGE', list, String(at), String(at + 999)]);
        for (const m of Array.isArray(got) ? got : []) {
          if (typeof m !== 'string') continue;
          let labeler = /^[ \t\n\v\f\r]*\[[ \t\n\v\f\r]*"([^"]+)"/.exec(m)?.[1];
          if (labeler?.includes('\\') === true) {
            const e = parkedEntryOf(m);
            if (Array.isArray(e)) labeler = e[0];
          }
          if (labeler !== undefined) counts.set(labeler, (counts.get(labeler) ?? 0) + 1);
        }
      }
    }
    let off = 0;
    const stored = s.exec(['HGETALL', k(keys, 1)]);
    const pairs = Array.isArray(stored) ? stored.map(String) : [];
    for (let i = 0; i < pairs.length; i += 2) {
      const labeler = pairs[i] ?? '';
      // tonumber: a decimal or hex number, else nil.
      const text = (pairs[i + 1] ?? '').trim();
      const was = text !== '' && !Number.isNaN(Number(text)) ? Number(text) : undefined;
      const n = counts.get(labeler) ?? 0;
      counts.delete(labeler);
      if (n === 0) s.exec(['HDEL', k(keys, 1), labeler]);
      else if (was !== n) s.exec(['HSET', k(keys, 1), labeler, String(n)]);
      off += Math.abs((was ?? 0) - n);
    }
    for (const labeler of [...counts.keys()].sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0))) {
      s.exec(['HSET', k(keys, 1), labeler, String(counts.get(labeler))]);
      off += counts.get(labeler) ?? 0;
    }
    return off;
  }],
  [DELETE_IF_EMPTY, (s, keys, argv) => {
    const held = s.exec(['XPENDING', k(keys, 0), argv[0] ?? '', '-', '+', '1', argv[1] ?? '']);
    if (Array.isArray(held) && held.length > 0) return -1;
    return s.exec(['XGROUP', 'DELCONSUMER', k(keys, 0), argv[0] ?? '', argv[1] ?? '']);
  }],
];

export const SCRIPT_TWINS: ReadonlyMap<string, ScriptTwin> = new Map(TWINS.map(([lua, twin]) => [sha1(lua), twin]));

/** Runs a twin as EVAL would: a command error inside it (redis.call raising) becomes the script's error reply. */
export function runTwin(twin: ScriptTwin, store: Store, keys: readonly string[], argv: readonly string[]): Reply {
  try {
    return twin(store, keys, argv);
  } catch (err) {
    if (err instanceof CommandError) return new ReplyError(`ERR Error running script: ${err.reply.text}`);
    throw err;
  }
}
