// The in-process Redis (long-runners/dev/memory-redis) against the real one: the same command sequences, sent by
// ioredis to both, must get the same replies (ids and idle times aside), and every Lua script skytide defines must
// have a JS twin that answers and writes as the script does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { startMemoryRedis, type MemoryRedis } from '../../../long-runners/dev/memory-redis/server.ts';
import { SCRIPT_TWINS, sha1 } from '../../../long-runners/dev/memory-redis/script-twins.ts';
import { createTestRedis } from '../../helpers/services.ts';
import { REPO_ADVANCE } from '../../../adapters/redis/repo-state.ts';
import { CURSOR_FLOOR, RAISE_SEQ_CURSOR } from '../../../adapters/redis/cursor-store.ts';
import { RELEASE_PARKED } from '../../../adapters/redis/identity-waits.ts';
import { HEAD_LABELS, PARK_LABELS, RECOUNT_PARKED, RELEASE_DUE_LABELS, RELEASE_LABELS } from '../../../adapters/redis/label-parking.ts';
import { AMEND, APPEND, LEASE_GUARD, RELEASE, RENEW } from '../../../adapters/redis/lease.ts';
import { DELETE_IF_EMPTY } from '../../../adapters/redis/group-consumers.ts';
import { SETTLE } from '../../../adapters/redis/consumer-group.ts';
import { MOVE_LETTERS } from '../../../adapters/redis/dead-letters.ts';
import { PROMOTE_DUE } from '../../../adapters/queue/redis-work-queue.ts';
import { compileOnceBatch, everyScriptSet, runBatch, runOnceBatch, type OnceBatchStep } from '../../../adapters/redis/once-batch-script.ts';
import type { RedisScript } from '../../../adapters/redis/scripts.ts';

let memory: MemoryRedis;
let mem: Redis;
let real: Awaited<ReturnType<typeof createTestRedis>>;

beforeAll(async () => {
  memory = await startMemoryRedis();
  mem = new Redis(memory.url, { maxRetriesPerRequest: 3 });
  real = await createTestRedis('memory_redis');
});
afterAll(async () => {
  mem?.disconnect();
  await real?.cleanup();
  await memory?.close();
});

type Step = (r: Redis, p: string) => Promise<unknown>;

/**
 * Stream ids and idle times differ between two servers; everything else must not. Ids are numbered within each step's
 * reply: two streams' first entries share an id when both land in the same millisecond, which one server may do and
 * the other not (seen: a run where the real Redis crossed a millisecond and the twin did not, every later id shifted).
 */
function normalise(value: unknown, ids: Map<string, string>): unknown {
  if (typeof value === 'string' && /^\d{13}-\d+$/.test(value)) {
    if (!ids.has(value)) ids.set(value, `id${ids.size}`);
    return ids.get(value);
  }
  if (Array.isArray(value)) return value.map((v) => normalise(v, ids));
  if (value instanceof Error) return `error: ${value.message.split(' ')[0]}`;
  return value;
}

async function both(steps: Step[]): Promise<void> {
  const run = async (r: Redis, p: string) => {
    const out: unknown[] = [];
    for (const step of steps) out.push(normalise(await step(r, p).catch((err: unknown) => err), new Map()));
    return out;
  };
  const prefix = `${real.prefix}${Math.random().toString(36).slice(2)}:`;
  expect(await run(mem, prefix)).toEqual(await run(real.redis, prefix));
}

describe('in-process Redis replies as Redis does', () => {
  it('strings, expiry, hashes, lists, sets, scan and type', async () => {
    await both([
      (r, p) => r.set(`${p}a`, '1'), (r, p) => r.get(`${p}a`), (r, p) => r.set(`${p}a`, '2', 'NX'), (r, p) => r.set(`${p}b`, 'x', 'PX', 60_000, 'NX'),
      (r, p) => r.mget(`${p}a`, `${p}b`, `${p}c`), (r, p) => r.pexpire(`${p}a`, 60_000), (r, p) => r.pexpire(`${p}zz`, 10),
      (r, p) => r.hset(`${p}h`, 'f', 'v', 'g', 'w'), (r, p) => r.hgetall(`${p}h`), (r, p) => r.hdel(`${p}h`, 'f', 'nope'), (r, p) => r.hlen(`${p}h`),
      (r, p) => r.rpush(`${p}l`, 'a', 'b', 'c', 'd'), (r, p) => r.ltrim(`${p}l`, 2, -1), (r, p) => r.lrange(`${p}l`, 0, -1), (r, p) => r.llen(`${p}l`),
      (r, p) => r.ltrim(`${p}l`, 5, -1), (r, p) => r.exists(`${p}l`), (r, p) => r.sadd(`${p}s`, 'x', 'x', 'y'), (r, p) => r.scard(`${p}s`),
      (r, p) => r.type(`${p}h`), (r, p) => r.type(`${p}none`), (r, p) => r.hset(`${p}a`, 'f', 'v'),
      async (r, p) => {
        // A full scan (the real Redis is shared: one page need not hold them all).
        const keys: string[] = [];
        let cursor = '0';
        do {
          const [next, page] = await r.scan(cursor, 'MATCH', `${p}*`, 'COUNT', 1000);
          keys.push(...page);
          cursor = next;
        } while (cursor !== '0');
        return keys.sort();
      },
      (r, p) => r.del(`${p}a`, `${p}b`, `${p}q`),
    ]);
  });

  it('sorted sets, as the delayed work of a queue uses them', async () => {
    await both([
      (r, p) => r.zadd(`${p}z`, 30, 'c', 10, 'a', 20, 'b'), (r, p) => r.zadd(`${p}z`, 15, 'a'), (r, p) => r.zcard(`${p}z`),
      (r, p) => r.zrangebyscore(`${p}z`, '-inf', 20), (r, p) => r.zrangebyscore(`${p}z`, '(15', '+inf', 'LIMIT', 0, 1),
      (r, p) => r.zrangebyscore(`${p}z`, 0, 100, 'WITHSCORES'), (r, p) => r.zscore(`${p}z`, 'b'), (r, p) => r.zrem(`${p}z`, 'a', 'x'),
      (r, p) => r.zrem(`${p}z`, 'b', 'c'), (r, p) => r.exists(`${p}z`), (r, p) => r.type(`${p}z`),
    ]);
  });

  it('binary values come back byte for byte', async () => {
    const bytes = Buffer.from([0, 1, 2, 0xff, 0xfe, 0x0d, 0x0a, 0x80]);
    await mem.rpush('bin', bytes);
    expect(await mem.lrangeBuffer('bin', 0, -1)).toEqual([bytes]);
  });

  it('streams with a consumer group: read, pending, claim, ack, delete, info', async () => {
    await both([
      (r, p) => r.xgroup('CREATE', `${p}s`, 'g', '0', 'MKSTREAM'), (r, p) => r.xgroup('CREATE', `${p}s`, 'g', '0', 'MKSTREAM'),
      (r, p) => r.xadd(`${p}s`, '*', 'event', 'one'), (r, p) => r.xadd(`${p}s`, '*', 'event', 'two'), (r, p) => r.xadd(`${p}s`, '*', 'event', 'three'),
      (r, p) => r.xlen(`${p}s`), (r, p) => r.xreadgroup('GROUP', 'g', 'c1', 'COUNT', 2, 'BLOCK', 10, 'STREAMS', `${p}s`, '>'),
      async (r, p) => ((await r.xpending(`${p}s`, 'g')) as unknown[]),
      async (r, p) => ((await r.xpending(`${p}s`, 'g', '-', '+', 10, 'c1')) as unknown[][]).map((row) => [row[0], row[1], row[3]]),
      async (r, p) => {
        const [, idsOf] = (await r.xautoclaim(`${p}s`, 'g', 'c2', 0, '0-0', 'COUNT', 1)) as [string, [string, string[]][], string[]];
        return idsOf.map(([, f]) => f);
      },
      async (r, p) => ((await r.xpending(`${p}s`, 'g', '-', '+', 10)) as unknown[][]).map((row) => [row[1], row[3]]),
      async (r, p) => {
        const first = ((await r.xrange(`${p}s`, '-', '+', 'COUNT', 1)) as [string, string[]][])[0]?.[0] ?? '';
        return [await r.xclaim(`${p}s`, 'g', 'c1', 0, first, 'JUSTID'), await r.xack(`${p}s`, 'g', first), await r.xdel(`${p}s`, first)];
      },
      (r, p) => r.xreadgroup('GROUP', 'g', 'c1', 'COUNT', 10, 'BLOCK', 10, 'STREAMS', `${p}s`, '>'),
      (r, p) => r.xreadgroup('GROUP', 'g', 'c1', 'COUNT', 10, 'BLOCK', 10, 'STREAMS', `${p}s`, '>'),
      async (r, p) => ((await r.xinfo('CONSUMERS', `${p}s`, 'g')) as unknown[][]).map((c) => [c[0], c[1], c[2], c[3]]),
      (r, p) => r.multi().xlen(`${p}s`).xpending(`${p}s`, 'g').xpending(`${p}s`, 'nogroup').exec(),
      (r, p) => r.xgroup('DELCONSUMER', `${p}s`, 'g', 'c2'),
      (r, p) => r.xrange(`${p}s`, '-', '+'),
    ]);
  });

  it('a blocked XREADGROUP wakes up when an entry is added', async () => {
    await mem.xgroup('CREATE', 'wake', 'g', '0', 'MKSTREAM');
    const reader = mem.duplicate();
    const read = reader.xreadgroup('GROUP', 'g', 'c', 'COUNT', 5, 'BLOCK', 0, 'STREAMS', 'wake', '>');
    await new Promise((r) => setTimeout(r, 50));
    await mem.multi().xadd('wake', '*', 'a', '1').xadd('wake', '*', 'a', '2').exec();
    const reply = (await read) as [string, [string, string[]][]][];
    expect(reply[0]?.[1].map(([, f]) => f)).toEqual([['a', '1'], ['a', '2']]);
    reader.disconnect();
  });
});

describe('the JS twins of the Lua scripts', () => {
  it('cover every script the Redis adapters define', async () => {
    // The adapters that send Lua: the Redis ones and the work queue's (its delayed entries are promoted by a script).
    const adapters = path.join(import.meta.dirname, '../../../adapters');
    const dirs = ['redis', 'queue'].map((d) => path.join(adapters, d));
    const lua = [REPO_ADVANCE.lua, RAISE_SEQ_CURSOR.lua, CURSOR_FLOOR.lua, RELEASE_PARKED.lua, LEASE_GUARD.lua, APPEND, AMEND, RENEW, RELEASE, DELETE_IF_EMPTY, SETTLE, MOVE_LETTERS, PROMOTE_DUE.lua, PARK_LABELS, HEAD_LABELS, RELEASE_LABELS, RELEASE_DUE_LABELS, RECOUNT_PARKED];
    for (const text of lua) expect(SCRIPT_TWINS.has(sha1(text))).toBe(true);
    const files = dirs.flatMap((dir) => readdirSync(dir).filter((f) => f.endsWith('.ts')).map((f) => path.join(dir, f)));
    const scripts = new Map<RedisScript, string>();
    for (const f of files) {
      const exported = (await import(f)) as Record<string, unknown>;
      for (const value of Object.values(exported)) {
        const v = value as Partial<RedisScript> | null;
        if (typeof v === 'object' && v !== null && typeof v.name === 'string' && typeof v.lua === 'string' && typeof v.numberOfKeys === 'number') scripts.set(v as RedisScript, f);
      }
    }
    for (const script of scripts.keys()) expect(SCRIPT_TWINS.has(sha1(script.lua)), script.name).toBe(true);
    // Every script a batch may run (each RedisScript adapters/redis exports) can be inlined into the once-batch script,
    // whose text depends on the set inlined: every set needs a twin.
    const batchScripts = [...scripts].filter(([, f]) => path.dirname(f) === dirs[0]).map(([script]) => script);
    expect(batchScripts.map((s) => s.name).sort()).toEqual([RAISE_SEQ_CURSOR, CURSOR_FLOOR, RELEASE_PARKED, REPO_ADVANCE, LEASE_GUARD].map((s) => s.name).sort());
    const sets = everyScriptSet(batchScripts);
    expect(sets.length).toBe(2 ** batchScripts.length);
    for (const set of sets) expect(SCRIPT_TWINS.has(sha1(compileOnceBatch(set).lua)), set.map((s) => s.name).join(',')).toBe(true);
    // A new script in these adapters needs a twin (and a line above), exported or not: count the scripts in the
    // sources (the once-batch script's template is one more), and find a twin for each one's text where the source
    // is the text (no interpolation or escapes).
    // Two are fragments of other scripts, not scripts: the once-batch script's template and label-parking.ts's
    // MEMBERS_LUA, which PARK_LABELS, HEAD_LABELS, RELEASE_LABELS, RELEASE_DUE_LABELS and RECOUNT_PARKED begin with. The checks the scripts share are fragments too, in
    // adapters/redis/lua/ (key types, stored members), which the template, MEMBERS_LUA, SETTLE, MOVE_LETTERS,
    // PROMOTE_DUE, APPEND and AMEND begin with (so those nine scripts are not plain text).
    const literals = files.flatMap((f) => readFileSync(f, 'utf8').match(/`[^`]*redis\.call\([^`]*`/g) ?? []);
    expect(literals.length).toBe(lua.length + 2);
    const plain = literals.filter((l) => !l.includes('${') && !l.includes('\\'));
    expect(plain.length).toBe(lua.length - 10);
    const sharedDir = path.join(dirs[0]!, 'lua');
    const shared = readdirSync(sharedDir).flatMap((f) => readFileSync(path.join(sharedDir, f), 'utf8').match(/`[^`]*redis\.call\([^`]*`/g) ?? []);
    expect(shared.length).toBe(2);
    for (const l of plain) expect(SCRIPT_TWINS.has(sha1(l.slice(1, -1))), l.slice(0, 80)).toBe(true);
    expect(SCRIPT_TWINS.size).toBe(lua.length + sets.length);
  });

  it('run by sha only once loaded, as Redis: an EVALSHA before EVAL or SCRIPT LOAD answers NOSCRIPT', async () => {
    const fresh = await startMemoryRedis();
    const r = new Redis(fresh.url, { maxRetriesPerRequest: 1 });
    try {
      const sha = sha1(RAISE_SEQ_CURSOR.lua);
      await expect(r.evalsha(sha, 1, 'cur', 5)).rejects.toThrow(/^NOSCRIPT/);
      expect(await r.script('EXISTS', sha)).toEqual([0]);
      expect(await r.script('LOAD', RAISE_SEQ_CURSOR.lua)).toBe(sha);
      await r.evalsha(sha, 1, 'cur', 5);
      expect(await r.get('cur')).toBe('5');
      await r.script('FLUSH');
      await expect(r.evalsha(sha, 1, 'cur', 6)).rejects.toThrow(/^NOSCRIPT/);
    } finally {
      r.disconnect();
      await fresh.close();
    }
  });

  /** PARK_LABELS' arguments for entries 1-1 (host h1), 1-2 (h2) and 1-3 (h1), from labeler `lab`. */
  const parking: (string | number)[] = ['grp', 100,
    '1-1', 4, 'h1', 'lab', JSON.stringify(['lab', 'did:web:h1', '5', 'event', 'a']), '',
    '1-2', 5, 'h2', 'lab', JSON.stringify(['lab', 'did:web:h2', '5', 'event', 'é✓ "q"']), '',
    '1-3', 4, 'h1', 'lab', JSON.stringify(['lab', 'did:web:h1', '5', 'event', 'c']), ''];
  /** A not-due member of source s (labeler `lab`), due at `due`. */
  const dueMember = (due: number, val: string): string => JSON.stringify(['lab', `due:${due}:s`, '5', 'event', val]);

  it('answer and write as the scripts do', async () => {
    const run = (text: string, keys: string[], args: (string | number)[]): Step => (r) => r.eval(text, keys.length, ...keys, ...args);
    const once = (marker: string, token: string, batch: OnceBatchStep[]): Step => async (r) => {
      const ran = await runOnceBatch(r, marker, token, batch);
      return ran.ranBefore ? 'ran before' : ran.replies;
    };
    const plain = (batch: OnceBatchStep[]): Step => (r) => runBatch(r, batch);
    const steps = (p: string): Step[] => [
      run(RAISE_SEQ_CURSOR.lua, [`${p}cur`], [5]), run(RAISE_SEQ_CURSOR.lua, [`${p}cur`], [3]), run(RAISE_SEQ_CURSOR.lua, [`${p}cur`], [9]),
      (r) => r.set(`${p}bad`, 'x'), run(RAISE_SEQ_CURSOR.lua, [`${p}bad`], [1]),
      (r) => r.rpush(`${p}parked`, 'a', 'b', 'c'), (r) => r.hset(`${p}wait`, 'did', '{}'),
      // a release whose frames are no longer at the head (or not all there) trims nothing: -1.
      run(RELEASE_PARKED.lua, [`${p}parked`, `${p}wait`], [2, 'did', 'b']), run(RELEASE_PARKED.lua, [`${p}parked`, `${p}wait`], [4, 'did', 'a']),
      run(RELEASE_PARKED.lua, [`${p}parked`, `${p}wait`], [2, 'did', 'a']), run(RELEASE_PARKED.lua, [`${p}parked`, `${p}wait`], [0, 'did', '']),
      run(RELEASE_PARKED.lua, [`${p}parked`, `${p}wait`], [1, 'did', 'c']), (r) => r.hlen(`${p}wait`),
      // repo-state: commit, stale commit, gap, sync already there, sync at the stored rev with another root, sync older.
      run(REPO_ADVANCE.lua, [`${p}rs`, `${p}live`, `${p}bf`], ['commit', '3kaaa', 'dataA', '', 60_000, JSON.stringify({ rev: '3kaaa', data: 'dataA' }), '', '', '', '1', 'ev1', '0', 'bf1']),
      run(REPO_ADVANCE.lua, [`${p}rs`, `${p}live`, `${p}bf`], ['commit', '3kaaa', 'dataA', '', 60_000, '{}', '', '', '', '1', 'ev2']),
      run(REPO_ADVANCE.lua, [`${p}rs`, `${p}live`, `${p}bf`], ['commit', '3kbbb', 'dataB', 'other', 60_000, JSON.stringify({ rev: '3kbbb', data: 'dataB' }), 'gap', '3kzzz', 'sgap', '1', 'ev3']),
      // a since gap, then a since that chains.
      run(REPO_ADVANCE.lua, [`${p}rs`, `${p}live`, `${p}bf`], ['commit', '3kbbc', 'dataB', 'dataB', 60_000, JSON.stringify({ rev: '3kbbc', data: 'dataB' }), 'gap', '3kzzz', 'sgap', '1', 'ev4']),
      run(REPO_ADVANCE.lua, [`${p}rs`, `${p}live`, `${p}bf`], ['commit', '3kbbd', 'dataB', 'dataB', 60_000, JSON.stringify({ rev: '3kbbd', data: 'dataB' }), 'gap', '3kbbc', 'sgap', '1', 'ev5']),
      run(REPO_ADVANCE.lua, [`${p}rs`, `${p}live`, `${p}bf`], ['sync', '3kbbd', 'dataB', '', 60_000, JSON.stringify({ rev: '3kbbd', data: 'dataB' }), 'resync']),
      run(REPO_ADVANCE.lua, [`${p}rs`, `${p}live`, `${p}bf`], ['sync', '3kbbd', 'dataX', '', 60_000, '{}', 'resync']),
      // a #sync that moves the repo (its state marked afterSync): the next commit's since is not checked.
      run(REPO_ADVANCE.lua, [`${p}rs`, `${p}live`, `${p}bf`], ['sync', '3kbbf', 'dataF', '', 60_000, JSON.stringify({ rev: '3kbbf', data: 'dataF', afterSync: true }), 'resync']),
      run(REPO_ADVANCE.lua, [`${p}rs`, `${p}live`, `${p}bf`], ['commit', '3kbbg', 'dataG', 'dataF', 60_000, JSON.stringify({ rev: '3kbbg', data: 'dataG' }), 'gap', '3kbbe', 'sgap', '1', 'ev6']),
      run(REPO_ADVANCE.lua, [`${p}rs`, `${p}live`, `${p}bf`], ['sync', '3k000', 'dataZ', '', 60_000, '{}', 'resync']),
      // a #sync at a later rev on the stored root moves the state and queues nothing; the repo's commits carried
      // prevData, so one without it, and then a null since, are gaps.
      run(REPO_ADVANCE.lua, [`${p}rs`, `${p}live`, `${p}bf`], ['sync', '3kbbh', 'dataG', '', 60_000, JSON.stringify({ rev: '3kbbh', data: 'dataG', afterSync: true }), 'resync']),
      run(REPO_ADVANCE.lua, [`${p}rs`, `${p}live`, `${p}bf`], ['commit', '3kbbi', 'dataI', '', 60_000, JSON.stringify({ rev: '3kbbi', data: 'dataI' }), 'gap', '3kbbh', 'sgap', '1', 'ev7']),
      run(REPO_ADVANCE.lua, [`${p}rs`, `${p}live`, `${p}bf`], ['commit', '3kbbj', 'dataJ', 'dataI', 60_000, JSON.stringify({ rev: '3kbbj', data: 'dataJ' }), 'gap', '', 'sgap', '1', 'ev8']),
      (r) => r.set(`${p}rs2`, 'not json'),
      run(REPO_ADVANCE.lua, [`${p}rs2`, `${p}live`, `${p}bf`], ['commit', '3kccc', 'dataC', 'x', 60_000, '{}', '', '', '']),
      (r) => r.xrange(`${p}live`, '-', '+'), (r) => r.xrange(`${p}bf`, '-', '+'), (r) => r.get(`${p}rs`),
      // lease: renew/release only by the holder; append under the lease.
      (r) => r.set(`${p}lease`, 'me', 'PX', 60_000), run(RENEW, [`${p}lease`], ['you', 1000]), run(RENEW, [`${p}lease`], ['me', 60_000]),
      run(APPEND, [`${p}lease`, `${p}out`, `${p}cursor`, `${p}set`], ['me', 'c1', 'm1', 'repo', 'r1', 'r2']),
      run(APPEND, [`${p}lease`, `${p}out`, `${p}cursor`, `${p}set`], ['you', 'c2', '', 'repo', 'r3']),
      (r) => r.xrange(`${p}out`, '-', '+'), (r) => r.get(`${p}cursor`), (r) => r.smembers(`${p}set`),
      // a skipped range amended under the lease: one removed, its rest added, the retried page's entries written.
      run(AMEND, [`${p}lease`, `${p}out`, `${p}set`], ['me', 'repo', 1, 1, 'm1', 'm2', 'r4']),
      run(AMEND, [`${p}lease`, `${p}out`, `${p}set`], ['you', 'repo', 1, 0, 'm2', 'r5']),
      (r) => r.xrange(`${p}out`, '-', '+'), (r) => r.smembers(`${p}set`),
      run(RELEASE, [`${p}lease`], ['you']), run(RELEASE, [`${p}lease`], ['me']),
      // delete a consumer only when it holds nothing.
      (r) => r.xgroup('CREATE', `${p}g`, 'grp', '0', 'MKSTREAM'), (r) => r.xadd(`${p}g`, '*', 'a', '1'),
      (r) => r.xreadgroup('GROUP', 'grp', 'busy', 'COUNT', 1, 'STREAMS', `${p}g`, '>'), (r) => r.xgroup('CREATECONSUMER', `${p}g`, 'grp', 'idle'),
      run(DELETE_IF_EMPTY, [`${p}g`], ['grp', 'busy']), run(DELETE_IF_EMPTY, [`${p}g`], ['grp', 'idle']),
      // settle: letters and acks of pending entries, one no longer pending, the same settle again (nothing written), a
      // DLQ of another type (nothing written, its type answered), acks alone beside that DLQ.
      (r) => r.xgroup('CREATE', `${p}st`, 'grp', '0', 'MKSTREAM'),
      (r) => r.xadd(`${p}st`, '1-1', 'event', 'a'), (r) => r.xadd(`${p}st`, '1-2', 'event', 'b'), (r) => r.xadd(`${p}st`, '1-3', 'event', 'c'),
      (r) => r.xadd(`${p}st`, '1-4', 'event', 'd'), (r) => r.xreadgroup('GROUP', 'grp', 'c1', 'COUNT', 3, 'STREAMS', `${p}st`, '>'),
      run(SETTLE, [`${p}st`, `${p}st_dlq`], ['grp', 1, '1-1', '1-2', 'd', 4, 'event', 'b', 'reason', 'x', '1-4', 'd', 2, 'reason', 'y']),
      run(SETTLE, [`${p}st`, `${p}st_dlq`], ['grp', 1, '1-1', '1-2', 'd', 4, 'event', 'b', 'reason', 'x', '1-4', 'd', 2, 'reason', 'y']),
      (r) => r.xrange(`${p}st_dlq`, '-', '+'), (r) => r.xrange(`${p}st`, '-', '+'), (r) => r.xpending(`${p}st`, 'grp'),
      // dead letters moved back: those still in the DLQ (one gone already is skipped), the same move again (nothing),
      // a stream or DLQ of another type (refused, nothing moved), a count that is not a number.
      (r) => r.xadd(`${p}mv_dlq`, '1-1', 'event', 'a', 'reason', 'x'), (r) => r.xadd(`${p}mv_dlq`, '1-2', 'event', 'é✓ "q"', 'reason', 'x'),
      (r) => r.xadd(`${p}mv_dlq`, '1-3', 'event', 'c', 'n', '3', 'reason', 'x'),
      run(MOVE_LETTERS, [`${p}mv_dlq`, `${p}mv`], ['1-1', 2, 'event', 'a', '1-9', 2, 'event', 'gone', '1-2', 2, 'event', 'é✓ "q"']),
      run(MOVE_LETTERS, [`${p}mv_dlq`, `${p}mv`], ['1-1', 2, 'event', 'a', '1-2', 2, 'event', 'é✓ "q"']),
      (r) => r.set(`${p}mv_bad`, 'x'),
      run(MOVE_LETTERS, [`${p}mv_dlq`, `${p}mv_bad`], ['1-3', 4, 'event', 'c', 'n', '3']),
      run(MOVE_LETTERS, [`${p}mv_bad`, `${p}mv`], ['1-3', 4, 'event', 'c', 'n', '3']),
      run(MOVE_LETTERS, [`${p}mv_dlq`, `${p}mv`], ['1-3', 'four', 'event', 'c']),
      run(MOVE_LETTERS, [`${p}mv_dlq`, `${p}mv`], ['1-3', 4, 'event', 'c', 'n', '3']),
      (r) => r.xrange(`${p}mv`, '-', '+'), (r) => r.xrange(`${p}mv_dlq`, '-', '+'),
      // the work queue's retries: a new entry of the stream, a member of the delayed set; then the same again (nothing).
      (r) => r.xadd(`${p}wq`, '1-1', 'body', 'a'), (r) => r.xadd(`${p}wq`, '1-2', 'body', 'b'), (r) => r.xadd(`${p}wq`, '1-3', 'body', 'c'),
      (r) => r.xgroup('CREATE', `${p}wq`, 'grp', '0'), (r) => r.xreadgroup('GROUP', 'grp', 'c1', 'COUNT', 3, 'STREAMS', `${p}wq`, '>'),
      run(SETTLE, [`${p}wq`, `${p}wq_dlq`, `${p}wq:delayed`], ['grp', 0, '1-1', 's', 4, 'body', 'a', 'prior', '1', '1-2', 'z', 2, 500, 'm', '1-3', 'd', 4, 'body', 'c', 'reason', 'r']),
      run(SETTLE, [`${p}wq`, `${p}wq_dlq`, `${p}wq:delayed`], ['grp', 0, '1-1', 's', 4, 'body', 'a', 'prior', '1', '1-2', 'z', 2, 500, 'm', '1-3', 'd', 4, 'body', 'c', 'reason', 'r']),
      (r) => r.xrange(`${p}wq`, '-', '+'), (r) => r.xrange(`${p}wq_dlq`, '-', '+'), (r) => r.zscore(`${p}wq:delayed`, 'm'), (r) => r.zcard(`${p}wq:delayed`), (r) => r.xpending(`${p}wq`, 'grp'),
      // label parking: two pending entries parked (the third is not pending: left), the same park again (nothing),
      // then released one, then the rest (a host emptied is unscheduled); a member that is not JSON writes nothing.
      (r) => r.xgroup('CREATE', `${p}ll`, 'grp', '0', 'MKSTREAM'),
      (r) => r.xadd(`${p}ll`, '1-1', 'event', 'a'), (r) => r.xadd(`${p}ll`, '1-2', 'event', 'é✓ "q"'), (r) => r.xadd(`${p}ll`, '1-3', 'event', 'c'),
      (r) => r.xreadgroup('GROUP', 'grp', 'c1', 'COUNT', 2, 'STREAMS', `${p}ll`, '>'),
      run(PARK_LABELS, [`${p}ll`, `${p}ll:hosts`, `${p}ll:from`, `${p}ll:h1`, `${p}ll:h2`], parking),
      run(PARK_LABELS, [`${p}ll`, `${p}ll:hosts`, `${p}ll:from`, `${p}ll:h1`, `${p}ll:h2`], parking),
      (r) => r.xrange(`${p}ll`, '-', '+'), (r) => r.xpending(`${p}ll`, 'grp'), (r) => r.lrange(`${p}ll:h1`, 0, -1), (r) => r.lrange(`${p}ll:h2`, 0, -1),
      (r) => r.hgetall(`${p}ll:from`), (r) => r.zrangebyscore(`${p}ll:hosts`, '-inf', '+inf', 'WITHSCORES'),
      // beside a key of another type (a list for the hosts, a string for the counts): refused, nothing parked.
      (r) => r.xadd(`${p}ll`, '1-4', 'event', 'd'), (r) => r.xreadgroup('GROUP', 'grp', 'c1', 'COUNT', 1, 'STREAMS', `${p}ll`, '>'),
      (r) => r.rpush(`${p}ll:badhosts`, 'x'), (r) => r.set(`${p}ll:badfrom`, 'x'),
      run(PARK_LABELS, [`${p}ll`, `${p}ll:badhosts`, `${p}ll:from`, `${p}ll:h4`], ['grp', 100, '1-4', 4, 'h4', 'lab', JSON.stringify(['lab', 'did:web:h4', '5', 'event', 'd']), '']),
      run(PARK_LABELS, [`${p}ll`, `${p}ll:hosts`, `${p}ll:badfrom`, `${p}ll:h4`], ['grp', 100, '1-4', 4, 'h4', 'lab', JSON.stringify(['lab', 'did:web:h4', '5', 'event', 'd']), '']),
      run(PARK_LABELS, [`${p}ll`, `${p}ll:hosts`, `${p}ll:from`, `${p}ll:badfrom`], ['grp', 100, '1-4', 4, 'h4', 'lab', JSON.stringify(['lab', 'did:web:h4', '5', 'event', 'd']), '']),
      (r) => r.exists(`${p}ll:h4`), (r) => r.xpending(`${p}ll`, 'grp'),
      (r) => r.rpush(`${p}ll:h1`, JSON.stringify(['lab2', 'did:web:h1', '7', 'event', 'x'])), (r) => r.hincrby(`${p}ll:from`, 'lab2', 1),
      run(HEAD_LABELS, [`${p}ll:h1`, `${p}ll:hosts`, `${p}ll:from`, `${p}ll_dlq`], ['h1', 5]),
      run(RELEASE_LABELS, [`${p}ll:h1`, `${p}ll`, `${p}ll:hosts`, `${p}ll:from`, `${p}ll_dlq`], [1, 'h1']),
      run(RELEASE_LABELS, [`${p}ll:h1`, `${p}ll`, `${p}ll:hosts`, `${p}ll:from`, `${p}ll_dlq`], [10, 'h1']),
      run(HEAD_LABELS, [`${p}ll:h1`, `${p}ll:hosts`, `${p}ll:from`, `${p}ll_dlq`], ['h1', 5]),
      // members that are no entry (truncated, not an array, an odd number of fields, an element not a string, an
      // object): set aside to the DLQ by both scripts, the good ones among them released; HEAD_LABELS stops at its
      // bound; a DLQ of another type refuses it all, nothing written.
      (r) => r.rpush(`${p}ll:h2`, '["lab","did:web:h2","5","event","tr', '7', JSON.stringify(['lab', 'did:web:h2', '5', 'event', 'g1']),
        JSON.stringify(['lab', 'did:web:h2', '5', 'event']), JSON.stringify(['lab', 'did:web:h2', 5, 'event', 'x']), '{"a":1}',
        JSON.stringify(['lab', 'did:web:h2', '5', 'event', 'g2'])),
      (r) => r.hincrby(`${p}ll:from`, 'lab', 5),
      (r) => r.set(`${p}ll_bad`, 'x'),
      run(HEAD_LABELS, [`${p}ll:h2`, `${p}ll:hosts`, `${p}ll:from`, `${p}ll_bad`], ['h2', 5]),
      run(RELEASE_LABELS, [`${p}ll:h2`, `${p}ll`, `${p}ll:hosts`, `${p}ll:from`, `${p}ll_bad`], [10, 'h2']),
      run(HEAD_LABELS, [`${p}ll:h2`, `${p}ll:hosts`, `${p}ll:from`, `${p}ll_dlq`], ['h2', 1]),
      run(HEAD_LABELS, [`${p}ll:h2`, `${p}ll:hosts`, `${p}ll:from`, `${p}ll_dlq`], ['h2', 5]),
      run(RELEASE_LABELS, [`${p}ll:h2`, `${p}ll`, `${p}ll:hosts`, `${p}ll:from`, `${p}ll_dlq`], [10, 'h2']),
      // counts or hosts of another type: a release refused before it moves anything, a head before it sets aside.
      run(RELEASE_LABELS, [`${p}ll:h2`, `${p}ll`, `${p}ll:hosts`, `${p}ll_bad`, `${p}ll_dlq`], [10, 'h2']),
      run(RELEASE_LABELS, [`${p}ll:h2`, `${p}ll`, `${p}ll_bad`, `${p}ll:from`, `${p}ll_dlq`], [10, 'h2']),
      (r) => r.rpush(`${p}ll:h3`, '{not json'), (r) => r.zadd(`${p}ll:hosts`, 1, 'h3'),
      run(HEAD_LABELS, [`${p}ll:h3`, `${p}ll_bad`, `${p}ll:from`, `${p}ll_dlq`], ['h3', 5]),
      run(HEAD_LABELS, [`${p}ll:h3`, `${p}ll:hosts`, `${p}ll_bad`, `${p}ll_dlq`], ['h3', 5]),
      run(HEAD_LABELS, [`${p}ll:h3`, `${p}ll:hosts`, `${p}ll:from`, `${p}ll_dlq`], ['h3', 5]),
      (r) => r.xrange(`${p}ll`, '-', '+'), (r) => r.lrange(`${p}ll:h1`, 0, -1), (r) => r.lrange(`${p}ll:h2`, 0, -1),
      (r) => r.xrange(`${p}ll_dlq`, '-', '+'), (r) => r.lrange(`${p}ll:h3`, 0, -1),
      (r) => r.hgetall(`${p}ll:from`), (r) => r.zrangebyscore(`${p}ll:hosts`, '-inf', '+inf', 'WITHSCORES'),
      // the counts recounted from the members: a host scheduled but not listed (nothing written), then the lists of
      // h1 and h4 (good members, one whose labeler has an escape, damaged ones naming theirs or none) against counts
      // too high, too low, missing and not a number.
      (r) => r.rpush(`${p}ll:h4`, JSON.stringify(['lab', 'did:web:h4', '5', 'event', 'a']), JSON.stringify(['l\\"ab', 'did:web:h4', '5', 'event', 'b']),
        '["lab3","did:web:h4","5","ev', '  [ "lab3", 1]', '{"lab":1}', 'not json', JSON.stringify(['lab4', 'did:web:h4', '5', 'event', 'é✓'])),
      (r) => r.rpush(`${p}ll:h1`, JSON.stringify(['lab4', 'did:web:h1', '5', 'event', 'c'])),
      (r) => r.zadd(`${p}ll:hosts`, 5, 'h4', 6, 'h1'), (r) => r.hset(`${p}ll:from`, 'lab', 7, 'lab2', 'x', 'gone', 2),
      run(RECOUNT_PARKED, [`${p}ll:hosts`, `${p}ll:from`, `${p}ll:h4`], ['h4']), (r) => r.hgetall(`${p}ll:from`),
      run(RECOUNT_PARKED, [`${p}ll:hosts`, `${p}ll:from`, `${p}ll:h4`, `${p}ll:h1`, `${p}ll:h3`], ['h4', 'h1', 'h3']),
      (r) => r.hgetall(`${p}ll:from`),
      run(RECOUNT_PARKED, [`${p}ll:hosts`, `${p}ll:from`, `${p}ll:h4`, `${p}ll:h1`, `${p}ll:h3`], ['h4', 'h1', 'h3']),
      // not-due labels: parked into a set by due time (far, then near: the source's check brought forward to the near
      // one; the same member again counted once), released each at its own time; a list of them from before (arrival
      // order, a damaged member, one twice) made a set in place by the first script to meet it, a release or a park;
      // a key of another type than either refuses the park.
      (r) => r.xgroup('CREATE', `${p}lq`, 'grp', '0', 'MKSTREAM'),
      (r) => r.xadd(`${p}lq`, '1-1', 'event', 'far'), (r) => r.xadd(`${p}lq`, '1-2', 'event', 'near'), (r) => r.xadd(`${p}lq`, '1-3', 'event', 'near'),
      (r) => r.xadd(`${p}lq`, '1-4', 'event', 'new'),
      (r) => r.xreadgroup('GROUP', 'grp', 'c1', 'COUNT', 4, 'STREAMS', `${p}lq`, '>'),
      run(PARK_LABELS, [`${p}lq`, `${p}ll:hosts`, `${p}ll:from`, `${p}ll:ds`], ['grp', 100, '1-1', 4, 'due:s', 'lab', dueMember(900, 'far'), 900]),
      (r) => r.zscore(`${p}ll:hosts`, 'due:s'),
      (r) => r.set(`${p}ll:badset`, 'x'),
      run(PARK_LABELS, [`${p}lq`, `${p}ll:hosts`, `${p}ll:from`, `${p}ll:badset`], ['grp', 100, '1-2', 4, 'due:s', 'lab', dueMember(300, 'near'), 300]),
      run(PARK_LABELS, [`${p}lq`, `${p}ll:hosts`, `${p}ll:from`, `${p}ll:ds`], ['grp', 100,
        '1-2', 4, 'due:s', 'lab', dueMember(300, 'near'), 300, '1-3', 4, 'due:s', 'lab', dueMember(300, 'near'), 300]),
      (r) => r.xlen(`${p}lq`), (r) => r.xpending(`${p}lq`, 'grp'),
      (r) => r.zrangebyscore(`${p}ll:ds`, '-inf', '+inf', 'WITHSCORES'), (r) => r.zscore(`${p}ll:hosts`, 'due:s'), (r) => r.hgetall(`${p}ll:from`),
      run(RELEASE_DUE_LABELS, [`${p}ll:ds`, `${p}ll`, `${p}ll:hosts`, `${p}ll:from`, `${p}ll_dlq`], [300, 10, 'due:s']),
      (r) => r.zscore(`${p}ll:hosts`, 'due:s'),
      run(RELEASE_DUE_LABELS, [`${p}ll:ds`, `${p}ll`, `${p}ll:hosts`, `${p}ll:from`, `${p}ll_dlq`], [900, 10, 'due:s']),
      (r) => r.zscore(`${p}ll:hosts`, 'due:s'), (r) => r.exists(`${p}ll:ds`), (r) => r.hgetall(`${p}ll:from`),
      // lists from before: dl released (a hosts set of another type first: refused, the list left as it is), dp parked into.
      (r) => r.rpush(`${p}ll:dl`, dueMember(800, 'old far'), dueMember(200, 'old near'), '["lab","due:1:s","5","ev', dueMember(200, 'old near')),
      (r) => r.rpush(`${p}ll:dp`, dueMember(700, 'p far'), dueMember(100, 'p near')),
      (r) => r.zadd(`${p}ll:hosts`, 800, 'due:s', 700, 'due:p'), (r) => r.hincrby(`${p}ll:from`, 'lab', 6),
      run(RELEASE_DUE_LABELS, [`${p}ll:dl`, `${p}ll`, `${p}ll_bad`, `${p}ll:from`, `${p}ll_dlq`], [250, 10, 'due:s']), (r) => r.type(`${p}ll:dl`),
      run(RELEASE_DUE_LABELS, [`${p}ll:dl`, `${p}ll`, `${p}ll:hosts`, `${p}ll:from`, `${p}ll_dlq`], [150, 1, 'due:s']),
      (r) => r.type(`${p}ll:dl`), (r) => r.zrangebyscore(`${p}ll:dl`, '-inf', '+inf', 'WITHSCORES'), (r) => r.zscore(`${p}ll:hosts`, 'due:s'),
      run(PARK_LABELS, [`${p}lq`, `${p}ll:hosts`, `${p}ll:from`, `${p}ll:dp`], ['grp', 100, '1-4', 4, 'due:p', 'lab', dueMember(400, 'p new'), 400]),
      (r) => r.zrangebyscore(`${p}ll:dp`, '-inf', '+inf', 'WITHSCORES'), (r) => r.zscore(`${p}ll:hosts`, 'due:p'),
      run(RECOUNT_PARKED, [`${p}ll:hosts`, `${p}ll:from`, `${p}ll:h4`, `${p}ll:h1`, `${p}ll:h3`, `${p}ll:dl`, `${p}ll:dp`], ['h4', 'h1', 'h3', 'due:s', 'due:p']),
      (r) => r.hgetall(`${p}ll:from`),
      run(RELEASE_DUE_LABELS, [`${p}ll:dl`, `${p}ll`, `${p}ll:hosts`, `${p}ll:from`, `${p}ll_dlq`], [250, 10, 'due:s']),
      run(RELEASE_DUE_LABELS, [`${p}ll:dl`, `${p}ll`, `${p}ll:hosts`, `${p}ll:from`, `${p}ll_dlq`], [850, 10, 'due:s']),
      (r) => r.zscore(`${p}ll:hosts`, 'due:s'), (r) => r.exists(`${p}ll:dl`), (r) => r.hgetall(`${p}ll:from`),
      (r) => r.xrange(`${p}ll`, '-', '+'), (r) => r.xrange(`${p}ll_dlq`, '-', '+'),
      // the work queue's due entries into its stream: one (LIMIT), the rest due, none; utf-8 fields; a member whose
      // fields are odd and one not JSON, each after a good one, and members with a number, an object, no field: each
      // to the DLQ, the good ones promoted; a count that is not a number.
      (r) => r.zadd(`${p}pd:delayed`, 100, JSON.stringify(['u1', 'body', 'a']), 200, JSON.stringify(['u2', 'body', 'é✓ "q"\n', 'prior', '2']),
        300, JSON.stringify(['u3', 'body', 'c']), 900, JSON.stringify(['u4', 'body', 'later'])),
      run(PROMOTE_DUE.lua, [`${p}pd:delayed`, `${p}pd`, `${p}pd_dlq`], [250, 1]), run(PROMOTE_DUE.lua, [`${p}pd:delayed`, `${p}pd`, `${p}pd_dlq`], [300, 10]),
      run(PROMOTE_DUE.lua, [`${p}pd:delayed`, `${p}pd`, `${p}pd_dlq`], [300, 10]),
      (r) => r.xrange(`${p}pd`, '-', '+'), (r) => r.zrangebyscore(`${p}pd:delayed`, '-inf', '+inf', 'WITHSCORES'),
      (r) => r.zadd(`${p}pd:delayed`, 400, JSON.stringify(['u5', 'body', 'd']), 500, JSON.stringify(['u6', 'body']), 600, JSON.stringify(['u7', 'body', 'e'])),
      run(PROMOTE_DUE.lua, [`${p}pd:delayed`, `${p}pd`, `${p}pd_dlq`], [1000, 10]),
      (r) => r.zadd(`${p}pd:delayed`, 450, '{not json', 420, JSON.stringify(['u8', 'body', 'f'])), run(PROMOTE_DUE.lua, [`${p}pd:delayed`, `${p}pd`, `${p}pd_dlq`], [1000, 10]),
      (r) => r.zadd(`${p}pd:delayed`, 460, JSON.stringify(['u9', 'body', 7]), 470, JSON.stringify({ body: 'g' }), 480, JSON.stringify(['u10'])),
      run(PROMOTE_DUE.lua, [`${p}pd:delayed`, `${p}pd`, `${p}pd_dlq`], [1000, 10]),
      run(PROMOTE_DUE.lua, [`${p}pd:delayed`, `${p}pd`, `${p}pd_dlq`], [1000, 'many']),
      // a DLQ of another type: refused while a damaged member is due (nothing moved), ignored when none is.
      (r) => r.zadd(`${p}pd:delayed`, 490, JSON.stringify(['u11', 'body', 'h']), 495, '{not json'), (r) => r.set(`${p}pd_bad`, 'x'),
      run(PROMOTE_DUE.lua, [`${p}pd:delayed`, `${p}pd`, `${p}pd_bad`], [1000, 10]), (r) => r.zcard(`${p}pd:delayed`),
      run(PROMOTE_DUE.lua, [`${p}pd:delayed`, `${p}pd`, `${p}pd_bad`], [492, 10]),
      run(PROMOTE_DUE.lua, [`${p}pd:delayed`, `${p}pd_bad`, `${p}pd_dlq`], [1000, 10]),
      run(PROMOTE_DUE.lua, [`${p}pd:delayed`, `${p}pd`, `${p}pd_dlq`], [1000, 10]),
      (r) => r.xrange(`${p}pd`, '-', '+'), (r) => r.zrangebyscore(`${p}pd:delayed`, '-inf', '+inf', 'WITHSCORES'),
      (r) => r.xrange(`${p}pd_dlq`, '-', '+'),
      (r) => r.set(`${p}st_bad`, 'x'), run(SETTLE, [`${p}st`, `${p}st_bad`], ['grp', 0, '1-3', 'd', 2, 'reason', 'z']),
      run(SETTLE, [`${p}st`, `${p}st_bad`], ['grp', 1, '1-3']), (r) => r.xrange(`${p}st`, '-', '+'), (r) => r.xpending(`${p}st`, 'grp'),
      // a delayed set of another type: refused before any move (its type and key answered), acks alone go through.
      (r) => r.xadd(`${p}st`, '1-5', 'event', 'e'), (r) => r.xadd(`${p}st`, '1-6', 'event', 'f'),
      (r) => r.xreadgroup('GROUP', 'grp', 'c1', 'COUNT', 2, 'STREAMS', `${p}st`, '>'),
      run(SETTLE, [`${p}st`, `${p}st_dlq`, `${p}st_bad`], ['grp', 0, '1-5', 'd', 2, 'reason', 'z', '1-6', 'z', 2, 5, 'm']),
      run(SETTLE, [`${p}st`, `${p}st_dlq`, `${p}st_bad`], ['grp', 1, '1-5']), (r) => r.xpending(`${p}st`, 'grp'),
      run(SETTLE, [`${p}st`, `${p}st_dlq`, `${p}st:delayed`], ['grp', 0, '1-6', 'z', 2, 5, 'm']), (r) => r.zrangebyscore(`${p}st:delayed`, '-inf', '+inf'),
      // acks past one XACK's 500 ids, one of them twice.
      async (r) => {
        const m = r.multi();
        for (let i = 1; i <= 1201; i++) m.xadd(`${p}st`, `2-${i}`, 'event', String(i));
        await m.exec();
        return r.xreadgroup('GROUP', 'grp', 'c1', 'COUNT', 2000, 'STREAMS', `${p}st`, '>').then(() => 'read');
      },
      run(SETTLE, [`${p}st`, `${p}st_dlq`], ['grp', 1202, '2-1', ...Array.from({ length: 1201 }, (_, i) => `2-${i + 1}`)]),
      (r) => r.xrange(`${p}st`, '-', '+'), (r) => r.xpending(`${p}st`, 'grp'),
      // once-batch scripts: every kind of step, errors in their slots (a command, a script's error reply, a redis.call
      // that raised inside a script), then the same token again (nothing written), with three sets of inlined scripts.
      (r) => r.rpush(`${p}ob_parked`, 'f1', 'f2', 'f3'), (r) => r.hset(`${p}ob_wait`, 'did', '{}'), (r) => r.set(`${p}ob_badcur`, 'x'),
      (r) => r.rpush(`${p}ob_list`, 'l'),
      once(`${p}ob_m`, 't1', [
        { kind: 'xadd', stream: `${p}ob_live`, fields: ['event', 'e1'] },
        { kind: 'command', name: 'HSET', args: [`${p}ob_h`, 'f', 'v'] }, { kind: 'command', name: 'PING', args: [] },
        { kind: 'command', name: 'GET', args: [`${p}ob_none`] }, { kind: 'command', name: 'RPUSH', args: [`${p}ob_badcur`, 'x'] },
        { kind: 'script', script: RELEASE_PARKED, keys: [`${p}ob_parked`, `${p}ob_wait`], args: ['2', 'did', 'f1'] },
        { kind: 'script', script: REPO_ADVANCE, keys: [`${p}ob_rs`, `${p}ob_live`, `${p}ob_bf`], args: ['commit', '3kaaa', 'dA', '', '60000', '{"rev":"3kaaa"}', '', '', '', '1', 'ev1'] },
        { kind: 'script', script: REPO_ADVANCE, keys: [`${p}ob_list`, `${p}ob_live`, `${p}ob_bf`], args: ['commit', '3kaaa', 'dA', '', '60000', '{}', '', '', ''] },
        { kind: 'script', script: RAISE_SEQ_CURSOR, keys: [`${p}ob_badcur`], args: ['3'] },
        { kind: 'script', script: RAISE_SEQ_CURSOR, keys: [`${p}ob_cur`], args: ['7'] },
        { kind: 'xadd', stream: `${p}ob_live`, fields: ['event', 'e2'] },
      ]),
      once(`${p}ob_m`, 't1', [{ kind: 'xadd', stream: `${p}ob_live`, fields: ['event', 'again'] }]),
      once(`${p}ob_m`, 't2', [
        { kind: 'xadd', stream: `${p}ob_live`, fields: ['event', 'e3'] },
        { kind: 'script', script: RELEASE_PARKED, keys: [`${p}ob_parked`, `${p}ob_wait`], args: ['1', 'did', 'f3'] },
      ]),
      // a lease guard first: held, the batch runs; not held (another value, or none), the script stops there, nothing written.
      (r) => r.set(`${p}ob_lease`, 'me 1'),
      once(`${p}ob_m`, 't2b', [
        { kind: 'script', script: LEASE_GUARD, keys: [`${p}ob_lease`], args: ['me 1'] }, { kind: 'xadd', stream: `${p}ob_live`, fields: ['event', 'leased'] },
      ]),
      once(`${p}ob_m`, 't2c', [
        { kind: 'script', script: LEASE_GUARD, keys: [`${p}ob_lease`], args: ['you 2'] }, { kind: 'xadd', stream: `${p}ob_live`, fields: ['event', 'stale'] },
        { kind: 'script', script: RAISE_SEQ_CURSOR, keys: [`${p}ob_cur`], args: ['99'] },
      ]),
      plain([{ kind: 'script', script: LEASE_GUARD, keys: [`${p}ob_nolease`], args: ['me 1'] }, { kind: 'xadd', stream: `${p}ob_live`, fields: ['event', 'stale'] }]),
      // a cursor floor first: the cursor at or above it, the batch runs; below it or gone (Redis lost writes), the
      // script stops there, nothing written; a cursor that is no seq passes (RAISE_SEQ_CURSOR answers for it).
      plain([{ kind: 'script', script: CURSOR_FLOOR, keys: [`${p}ob_cur`], args: ['7'] }, { kind: 'xadd', stream: `${p}ob_live`, fields: ['event', 'floor ok'] }]),
      plain([{ kind: 'script', script: CURSOR_FLOOR, keys: [`${p}ob_cur`], args: ['9'] }, { kind: 'xadd', stream: `${p}ob_live`, fields: ['event', 'behind'] }]),
      once(`${p}ob_m`, 't2d', [{ kind: 'script', script: CURSOR_FLOOR, keys: [`${p}ob_nocur`], args: ['1'] }, { kind: 'xadd', stream: `${p}ob_live`, fields: ['event', 'gone'] }]),
      plain([{ kind: 'script', script: CURSOR_FLOOR, keys: [`${p}ob_badcur`], args: ['1'] }]),
      once(`${p}ob_m`, 't3', [{ kind: 'xadd', stream: `${p}ob_live`, fields: ['event', 'e4'] }]),
      once(`${p}ob_m`, 't3', []),
      // the same script without a marker: each run writes (at least once), a key of the wrong type refuses it whole.
      plain([{ kind: 'xadd', stream: `${p}ob_live`, fields: ['event', 'p1'] }, { kind: 'command', name: 'SET', args: [`${p}ob_str`, 'v1'] }]),
      plain([{ kind: 'xadd', stream: `${p}ob_live`, fields: ['event', 'p1'] }, { kind: 'command', name: 'SET', args: [`${p}ob_str`, 'v1'] }]),
      plain([
        { kind: 'xadd', stream: `${p}ob_live`, fields: ['event', 'p2'] },
        { kind: 'script', script: RAISE_SEQ_CURSOR, keys: [`${p}ob_cur`], args: ['8'] },
        { kind: 'command', name: 'HSET', args: [`${p}ob_badcur`, 'f', 'v'] },
      ]),
      plain([]),
      (r) => r.xrange(`${p}ob_live`, '-', '+'), (r) => r.lrange(`${p}ob_parked`, 0, -1), (r) => r.hlen(`${p}ob_wait`),
      (r) => r.mget(`${p}ob_m`, `${p}ob_cur`, `${p}ob_rs`, `${p}ob_badcur`, `${p}ob_str`), (r) => r.hgetall(`${p}ob_h`),
    ];
    const prefix = `${real.prefix}${Math.random().toString(36).slice(2)}:`;
    const go = async (r: Redis) => {
      const out: unknown[] = [];
      for (const step of steps(prefix)) out.push(normalise(await step(r, prefix).catch((err: unknown) => err), new Map()));
      return out;
    };
    expect(await go(mem)).toEqual(await go(real.redis));
  });
});
