// The in-process Redis against the real one on the wire: every command skytide sends (adapters/, long-runners/, the
// scripts' redis.call), in the sequences and edge cases skytide relies on, sent to both; the replies must be the same
// bytes (RESP2), except stream ids generated from the clock and idle times, which are masked. memory-redis.test.ts
// compares them through ioredis (which would hide a null bulk against a null array, a status against a bulk).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMemoryRedis, type MemoryRedis } from '../../../long-runners/dev/memory-redis/server.ts';
import { connectRaw, encodeResp, type RawRedis, type RespNode } from '../../helpers/raw-resp.ts';
import { createTestRedis } from '../../helpers/services.ts';

let memory: MemoryRedis;
let real: Awaited<ReturnType<typeof createTestRedis>>;
const realPort = Number(new URL(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379').port || 6379);

beforeAll(async () => {
  memory = await startMemoryRedis();
  real = await createTestRedis('memory_redis_wire');
});
afterAll(async () => {
  await real?.cleanup();
  await memory?.close();
});

type Mask = (reply: RespNode) => RespNode;
type Step =
  | readonly (string | number)[]
  | { cmd: readonly (string | number)[]; mask: Mask }
  | { sleep: number }
  /** Sent on the second connection, its reply taken by the next `{ collect }` (a blocked XREADGROUP). */
  | { background: readonly (string | number)[] }
  | { collect: true; mask?: Mask };

/** An idle time or a TTL, in coarse steps: the two servers run the same sequence a few ms apart. */
const coarse = (unit: number): Mask => (n) => (n.type === ':' ? { type: ':', value: `~${Math.round(Number(n.value) / unit)}` } : n);
const IDLE_UNIT = 400;
/** XPENDING's extended rows: the idle time (third) coarse. */
const pendingRows: Mask = (n) =>
  n.type === '*' && n.value !== null ? { type: '*', value: n.value.map((row) => (row.type === '*' && row.value !== null ? { type: '*', value: row.value.map((c, i) => (i === 2 ? coarse(IDLE_UNIT)(c) : c)) } : row)) } : n;
/**
 * XINFO CONSUMERS: name, pending and idle (coarse) of each, the fields skytide reads; Redis 7.2 adds `inactive`,
 * which the in-process Redis answers as 7.2 does and the Redis of this machine may not.
 */
const consumerRows: Mask = (n) => {
  if (n.type !== '*' || n.value === null) return n;
  return {
    type: '*',
    value: n.value.map((row) => {
      if (row.type !== '*' || row.value === null) return row;
      const kept: RespNode[] = [];
      for (let i = 0; i + 1 < row.value.length; i += 2) {
        const name = row.value[i]!;
        if (name.type !== '$' || !['name', 'pending', 'idle'].includes(name.value ?? '')) continue;
        kept.push(name, name.value === 'idle' ? coarse(IDLE_UNIT)(row.value[i + 1]!) : row.value[i + 1]!);
      }
      return { type: '*', value: kept };
    }),
  };
};

/** Clock-made stream ids (13-digit ms) renamed in order of appearance within one reply, as memory-redis.test.ts does. */
function normaliseIds(node: RespNode, ids: Map<string, string>): RespNode {
  if (node.type === '$' && node.value !== null && /^\d{13}-\d+$/.test(node.value)) {
    if (!ids.has(node.value)) ids.set(node.value, `id${ids.size}`);
    return { type: '$', value: ids.get(node.value)! };
  }
  if (node.type === '*' && node.value !== null) return { type: '*', value: node.value.map((n) => normaliseIds(n, ids)) };
  return node;
}

async function transcript(port: number, prefix: string, steps: readonly Step[]): Promise<string[]> {
  const [main, side] = [await connectRaw(port), await connectRaw(port)];
  const sub = (args: readonly (string | number)[]) => args.map((a) => (typeof a === 'string' ? a.replaceAll('{p}', prefix) : a));
  const show = (args: readonly (string | number)[], reply: RespNode, mask?: Mask) =>
    `${args.join(' ')} -> ${JSON.stringify(encodeResp(normaliseIds(mask === undefined ? reply : mask(reply), new Map())).replaceAll(prefix, '{p}'))}`;
  const out: string[] = [];
  let pending: { args: readonly (string | number)[]; reply: Promise<RespNode> } | undefined;
  try {
    for (const step of steps) {
      if ('sleep' in step) await new Promise((r) => setTimeout(r, step.sleep));
      else if ('background' in step) pending = { args: step.background, reply: side.send(sub(step.background)) };
      else if ('collect' in step) {
        const started = Date.now();
        const reply = await pending!.reply;
        out.push(`${show(pending!.args, reply, step.mask)} after ~${Math.round((Date.now() - started) / 500) * 500} ms`);
      } else if ('cmd' in step) out.push(show(step.cmd, await main.send(sub(step.cmd)), step.mask));
      else out.push(show(step as readonly (string | number)[], await main.send(sub(step as readonly (string | number)[]))));
    }
  } finally {
    (main as RawRedis).close();
    side.close();
  }
  return out;
}

async function sameOnBoth(steps: readonly Step[]): Promise<void> {
  const prefix = `${real.prefix}${Math.random().toString(36).slice(2)}:`;
  const [onReal, onMemory] = [await transcript(realPort, prefix, steps), await transcript(memory.port, prefix, steps)];
  expect(onMemory.join('\n')).toBe(onReal.join('\n'));
}

describe('the in-process Redis answers byte for byte as Redis does', () => {
  it('XPENDING ranges with an exclusive start, as mostDeliveries and deliveryCounts page', async () => {
    await sameOnBoth([
      ['XGROUP', 'CREATE', '{p}s', 'g', '0', 'MKSTREAM'],
      ['XADD', '{p}s', '1-1', 'a', '1'], ['XADD', '{p}s', '1-2', 'a', '2'], ['XADD', '{p}s', '1-3', 'a', '3'],
      ['XREADGROUP', 'GROUP', 'g', 'c', 'COUNT', 3, 'STREAMS', '{p}s', '>'],
      { cmd: ['XPENDING', '{p}s', 'g', '(1-1', '+', 10, 'c'], mask: pendingRows },
      { cmd: ['XPENDING', '{p}s', 'g', '(1-1', '(1-3', 10], mask: pendingRows },
      { cmd: ['XPENDING', '{p}s', 'g', 'IDLE', 0, '(1-2', '+', 10], mask: pendingRows },
      { cmd: ['XPENDING', '{p}s', 'g', '-', '(1-3', 10, 'c'], mask: pendingRows },
      { cmd: ['XPENDING', '{p}s', 'g', '(1-3', '+', 10], mask: pendingRows },
    ]);
  });

  it('claims: an entry deleted while pending leaves the PEL whatever its idle time, and counts against COUNT', async () => {
    await sameOnBoth([
      ['XGROUP', 'CREATE', '{p}s', 'g', '0', 'MKSTREAM'],
      ...[1, 2, 3, 4, 5, 6].map((n) => ['XADD', '{p}s', `1-${n}`, 'event', String(n)]),
      ['XREADGROUP', 'GROUP', 'g', 'c', 'COUNT', 6, 'STREAMS', '{p}s', '>'], ['XDEL', '{p}s', '1-2', '1-3', '1-5'],
      // claimIdle's XAUTOCLAIM, none idle for its minimum yet: the deleted ones are reported (and gone) all the same.
      ['XAUTOCLAIM', '{p}s', 'g', 'other', 60_000, '0-0', 'COUNT', 2], ['XAUTOCLAIM', '{p}s', 'g', 'other', 60_000, '1-3', 'COUNT', 2],
      ['XPENDING', '{p}s', 'g'], ['XDEL', '{p}s', '1-1', '1-4'],
      ['XAUTOCLAIM', '{p}s', 'g', 'other', 0, '0-0', 'COUNT', 1], ['XAUTOCLAIM', '{p}s', 'g', 'other', 0, '0-0', 'COUNT', 5, 'JUSTID'],
      ['XAUTOCLAIM', '{p}s', 'g', 'other', 0, '0-0', 'COUNT', 0],
      ['XADD', '{p}s', '2-1', 'event', 'x'], ['XADD', '{p}s', '2-2', 'event', 'y'], ['XREADGROUP', 'GROUP', 'g', 'c', 'COUNT', 6, 'STREAMS', '{p}s', '>'],
      ['XDEL', '{p}s', '2-1'],
      // keepClaimed's and setDeliveryCounts' XCLAIM: the deleted one leaves the PEL, even when not idle enough.
      ['XCLAIM', '{p}s', 'g', 'c', 60_000, '2-1', '2-2'], ['XCLAIM', '{p}s', 'g', 'c', 0, '2-1', '2-2', 'RETRYCOUNT', 3, 'JUSTID'],
      ['XCLAIM', '{p}s', 'g', 'd', 0, '1-6', 'FORCE', 'JUSTID'],
      { cmd: ['XPENDING', '{p}s', 'g', '-', '+', 10], mask: pendingRows },
    ]);
  });
});

describe('every command skytide sends', () => {
  it('strings with options and expiry, counters, hashes, lists, sorted sets, keys, connection', async () => {
    await sameOnBoth([
      ['PING'], ['PING', 'hi'], ['ECHO', 'x'], ['CLIENT', 'SETNAME', 'skytide'], ['SELECT', 0],
      ['SET', '{p}a', '1'], ['GET', '{p}a'], ['SET', '{p}a', '2', 'NX'], ['GET', '{p}a'], ['SET', '{p}none', '2', 'XX'],
      ['SET', '{p}lease', 'me', 'PX', 60_000, 'NX'], ['SET', '{p}lease', 'you', 'PX', 60_000, 'NX'], { cmd: ['PTTL', '{p}lease'], mask: coarse(1000) },
      ['SET', '{p}e', 'v', 'EX', 100], { cmd: ['TTL', '{p}e'], mask: coarse(10) }, ['SET', '{p}e', 'w'], ['TTL', '{p}e'], ['TTL', '{p}nokey'], ['PTTL', '{p}nokey'],
      ['SET', '{p}x', '1', 'PX', 0], ['SET', '{p}x', '1', 'EX', -1], ['SET', '{p}x', '1', 'PX', 'soon'], ['SET', '{p}x', '1', 'BOGUS'],
      ['SET', '{p}short', 'v', 'PX', 150], ['PEXPIRE', '{p}a', 150], ['PEXPIRE', '{p}nokey', 150], ['EXPIRE', '{p}e', 100], ['EXPIRE', '{p}nokey', 100],
      ['MGET', '{p}a', '{p}short', '{p}nokey'], { sleep: 300 }, ['GET', '{p}short'], ['EXISTS', '{p}short', '{p}a', '{p}e'], ['MGET', '{p}a', '{p}e'],
      ['SET', '{p}gone', 'v'], ['PEXPIRE', '{p}gone', 0], ['EXISTS', '{p}gone'], ['SET', '{p}gone', 'v'], ['EXPIRE', '{p}gone', -5], ['GET', '{p}gone'],
      ['INCR', '{p}n'], ['INCR', '{p}n'], ['INCRBY', '{p}n', 40], ['GET', '{p}n'], ['SET', '{p}t', 'x'], ['INCR', '{p}t'],
      // Counters are signed 64-bit: exact past 2^53, an overflow refused and the value kept, a value past 2^63 not a number.
      ['SET', '{p}big', '9007199254740993'], ['INCR', '{p}big'], ['INCRBY', '{p}big', 10], ['GET', '{p}big'],
      ['SET', '{p}max', '9223372036854775806'], ['INCR', '{p}max'], ['INCR', '{p}max'], ['GET', '{p}max'], ['DECR', '{p}max'],
      ['SET', '{p}min', '-9223372036854775808'], ['DECR', '{p}min'], ['INCRBY', '{p}min', '9223372036854775808'], ['SET', '{p}huge', '99999999999999999999'], ['INCR', '{p}huge'],
      ['HINCRBY', '{p}hc', 'f', '9223372036854775807'], ['HINCRBY', '{p}hc', 'f', 1], ['HGET', '{p}hc', 'f'], ['HSET', '{p}hc', 'g', 'x'], ['HINCRBY', '{p}hc', 'g', 1],
      ['HINCRBY', '{p}hnew', 'f', 'x'], ['EXISTS', '{p}hnew'],
      ['SET', '{p}pad', '007'], ['INCR', '{p}pad'], ['SET', '{p}plus', '+1'], ['INCR', '{p}plus'], ['SET', '{p}negz', '-0'], ['INCR', '{p}negz'],
      // Options that exclude each other are a syntax error, whatever the key holds.
      ['SET', '{p}o', 'v', 'NX', 'XX'], ['SET', '{p}o', 'v', 'EX', 10, 'PX', 10_000], ['SET', '{p}o', 'v', 'EX', 10, 'KEEPTTL'], ['EXISTS', '{p}o'],
      // The connection's own name.
      ['CLIENT', 'GETNAME'], ['CLIENT', 'SETNAME', 'has space'], ['CLIENT', 'GETNAME'], ['CLIENT', 'SETNAME', ''], ['CLIENT', 'GETNAME'],
      ['HSET', '{p}h', 'f', 'v', 'g', 'w'], ['HSET', '{p}h', 'f', 'v2'], ['HGET', '{p}h', 'f'], ['HGET', '{p}h', 'nope'], ['HGET', '{p}nokey', 'f'],
      ['HGETALL', '{p}h'], ['HGETALL', '{p}nokey'], ['HLEN', '{p}h'], ['HDEL', '{p}h', 'f', 'nope'], ['HDEL', '{p}h', 'g'], ['EXISTS', '{p}h'], ['HDEL', '{p}nokey', 'f'],
      ['RPUSH', '{p}l', 'a', 'b', 'c', 'd'], ['LPUSH', '{p}l', 'z'], ['LRANGE', '{p}l', 0, -1], ['LRANGE', '{p}l', 1, 2], ['LRANGE', '{p}l', 9, 20], ['LLEN', '{p}l'],
      ['LTRIM', '{p}l', 2, -1], ['LRANGE', '{p}l', 0, -1], ['LTRIM', '{p}l', 5, -1], ['EXISTS', '{p}l'], ['LLEN', '{p}l'], ['LRANGE', '{p}nokey', 0, -1],
      ['RPUSH', '{p}bin', '\u0000\u00ff\r\n\u0080'], ['LRANGE', '{p}bin', 0, -1],
      ['ZADD', '{p}z', 30, 'c', 10, 'a', 20, 'b'], ['ZADD', '{p}z', 15, 'a'], ['ZADD', '{p}z', 1.5, 'd'], ['ZSCORE', '{p}z', 'd'], ['ZCARD', '{p}z'],
      ['ZRANGEBYSCORE', '{p}z', '-inf', 20, 'LIMIT', 0, 2], ['ZRANGEBYSCORE', '{p}z', '(15', '+inf'], ['ZRANGEBYSCORE', '{p}z', 0, 100, 'WITHSCORES'],
      ['ZREM', '{p}z', 'a', 'x'], ['ZREM', '{p}z', 'b', 'c', 'd'], ['EXISTS', '{p}z'], ['ZRANGEBYSCORE', '{p}nokey', '-inf', '+inf', 'LIMIT', 0, 10],
      ['SADD', '{p}set', 'x', 'x', 'y'], ['SMEMBERS', '{p}nokey'], ['SCARD', '{p}set'],
      ['TYPE', '{p}a'], ['TYPE', '{p}h'], ['TYPE', '{p}nokey'], ['TYPE', '{p}set'],
      ['DEL', '{p}a', '{p}e', '{p}nokey'], ['UNLINK', '{p}n'], ['EXISTS', '{p}a', '{p}n'],
    ]);
  });

  it('wrong-type errors for each command on another kind of key', async () => {
    const onString = ['GET', 'HSET', 'HGET', 'HGETALL', 'HDEL', 'HLEN', 'RPUSH', 'LPUSH', 'LRANGE', 'LLEN', 'LTRIM', 'ZADD', 'ZREM', 'ZRANGEBYSCORE', 'SADD',
      'XADD', 'XLEN', 'XRANGE', 'XDEL', 'XACK', 'XREADGROUP', 'XPENDING', 'XCLAIM', 'XAUTOCLAIM', 'XGROUP', 'XINFO', 'INCR'];
    const args: Record<string, (string | number)[]> = {
      GET: ['{p}l'], HSET: ['{p}s', 'f', 'v'], HGET: ['{p}s', 'f'], HGETALL: ['{p}s'], HDEL: ['{p}s', 'f'], HLEN: ['{p}s'], RPUSH: ['{p}s', 'x'],
      LPUSH: ['{p}s', 'x'], LRANGE: ['{p}s', 0, -1], LLEN: ['{p}s'], LTRIM: ['{p}s', 0, -1], ZADD: ['{p}s', 1, 'm'], ZREM: ['{p}s', 'm'],
      ZRANGEBYSCORE: ['{p}s', '-inf', '+inf'], SADD: ['{p}s', 'm'], XADD: ['{p}s', '*', 'f', 'v'], XLEN: ['{p}s'], XRANGE: ['{p}s', '-', '+'],
      XDEL: ['{p}s', '1-1'], XACK: ['{p}s', 'g', '1-1'], XREADGROUP: ['GROUP', 'g', 'c', 'STREAMS', '{p}s', '>'], XPENDING: ['{p}s', 'g'],
      XCLAIM: ['{p}s', 'g', 'c', 0, '1-1'], XAUTOCLAIM: ['{p}s', 'g', 'c', 0, '0-0'], XGROUP: ['CREATE', '{p}s', 'g', '0', 'MKSTREAM'],
      XINFO: ['CONSUMERS', '{p}s', 'g'], INCR: ['{p}l'],
    };
    await sameOnBoth([['SET', '{p}s', 'x'], ['RPUSH', '{p}l', 'x'], ...onString.map((name) => [name, ...(args[name] ?? [])]), ['SET', '{p}s', 'y', 'GET']]);
  });

  it('streams and their group: > and history reads, deletes while pending, claims, pending, consumers, settling', async () => {
    await sameOnBoth([
      ['XGROUP', 'CREATE', '{p}s', 'g', '0', 'MKSTREAM'], ['XGROUP', 'CREATE', '{p}s', 'g', '0', 'MKSTREAM'], ['XGROUP', 'CREATE', '{p}nokey', 'g', '0'],
      ['XADD', '{p}s', '1-1', 'event', 'a'], ['XADD', '{p}s', '1-2', 'event', 'b'], ['XADD', '{p}s', '1-3', 'event', 'c'], ['XADD', '{p}s', '1-4', 'event', 'd'],
      ['XADD', '{p}s', '1-4', 'event', 'x'], ['XADD', '{p}s', '*', 'event', 'e'], ['XLEN', '{p}s'], ['XLEN', '{p}nokey'],
      ['XRANGE', '{p}s', '-', '+', 'COUNT', 2], ['XRANGE', '{p}s', '(1-2', '+', 'COUNT', 2], ['XRANGE', '{p}nokey', '-', '+'],
      ['XGROUP', 'CREATECONSUMER', '{p}s', 'g', 'zed'], ['XGROUP', 'CREATECONSUMER', '{p}s', 'g', 'zed'],
      ['XREADGROUP', 'GROUP', 'g', 'bob', 'COUNT', 3, 'STREAMS', '{p}s', '>'], ['XREADGROUP', 'GROUP', 'g', 'al', 'COUNT', 1, 'BLOCK', 50, 'STREAMS', '{p}s', '>'],
      ['XREADGROUP', 'GROUP', 'g', 'al', 'COUNT', 5, 'BLOCK', 50, 'STREAMS', '{p}s', '>'], ['XREADGROUP', 'GROUP', 'g', 'al', 'COUNT', 5, 'STREAMS', '{p}s', '>'],
      ['XREADGROUP', 'GROUP', 'nog', 'al', 'STREAMS', '{p}s', '>'], ['XREADGROUP', 'GROUP', 'g', 'al', 'STREAMS', '{p}nokey', '>'],
      ['XPENDING', '{p}s', 'g'], ['XPENDING', '{p}nokey', 'g'], ['XPENDING', '{p}s', 'nog'],
      // An entry deleted while pending: history gives it with no fields (and counts no delivery), XAUTOCLAIM lists it apart.
      ['XDEL', '{p}s', '1-2'], ['XDEL', '{p}s', '1-2', '9-9'], ['XDEL', '{p}nokey', '1-1'], { sleep: 2 * IDLE_UNIT },
      ['XREADGROUP', 'GROUP', 'g', 'bob', 'COUNT', 10, 'STREAMS', '{p}s', '0'], ['XREADGROUP', 'GROUP', 'g', 'bob', 'COUNT', 1, 'STREAMS', '{p}s', '1-1'],
      ['XREADGROUP', 'GROUP', 'g', 'nobody', 'STREAMS', '{p}s', '0'],
      { cmd: ['XPENDING', '{p}s', 'g', '-', '+', 10], mask: pendingRows }, { cmd: ['XPENDING', '{p}s', 'g', 'IDLE', IDLE_UNIT, '-', '+', 10], mask: pendingRows },
      { cmd: ['XPENDING', '{p}s', 'g', '-', '+', 10, 'al'], mask: pendingRows }, ['XPENDING', '{p}s', 'g', '-', '+', 0],
      { cmd: ['XINFO', 'CONSUMERS', '{p}s', 'g'], mask: consumerRows }, ['XINFO', 'CONSUMERS', '{p}s', 'nog'],
      ['XAUTOCLAIM', '{p}s', 'g', 'carl', 60_000, '0-0', 'COUNT', 10], ['XAUTOCLAIM', '{p}s', 'g', 'carl', 0, '0-0', 'COUNT', 1],
      ['XAUTOCLAIM', '{p}s', 'g', 'carl', 0, '1-3', 'COUNT', 10], ['XAUTOCLAIM', '{p}s', 'g', 'nog', 0, '0-0'], ['XAUTOCLAIM', '{p}s', 'nog', 'c', 0, '0-0'],
      { cmd: ['XPENDING', '{p}s', 'g', '-', '+', 10], mask: pendingRows },
      // Claims: the delivery count set (RETRYCOUNT), kept (JUSTID), backdated (IDLE); not idle enough; not pending; deleted.
      ['XCLAIM', '{p}s', 'g', 'al', 0, '1-1', '1-3', 'RETRYCOUNT', 5, 'JUSTID'], ['XCLAIM', '{p}s', 'g', 'al', 0, '1-4', 'JUSTID'],
      ['XCLAIM', '{p}s', 'g', 'dan', 0, '1-4', 'IDLE', 5 * IDLE_UNIT], ['XCLAIM', '{p}s', 'g', 'al', 60_000, '1-1'], ['XCLAIM', '{p}s', 'g', 'al', 0, '9-9'],
      ['XDEL', '{p}s', '1-3'], ['XCLAIM', '{p}s', 'g', 'al', 0, '1-3', 'JUSTID'], ['XCLAIM', '{p}s', 'nog', 'al', 0, '1-1'],
      { cmd: ['XPENDING', '{p}s', 'g', '-', '+', 10], mask: pendingRows }, { cmd: ['XPENDING', '{p}s', 'g', 'IDLE', 2 * IDLE_UNIT, '-', '+', 10], mask: pendingRows },
      ['XPENDING', '{p}s', 'g'], { cmd: ['XINFO', 'CONSUMERS', '{p}s', 'g'], mask: consumerRows },
      ['XACK', '{p}s', 'g', '1-1', '1-1', '9-9'], ['XACK', '{p}s', 'nog', '1-4'], ['XACK', '{p}nokey', 'g', '1-4'],
      ['XGROUP', 'DELCONSUMER', '{p}s', 'g', 'zed'], ['XGROUP', 'DELCONSUMER', '{p}s', 'g', 'nobody'], ['XGROUP', 'DELCONSUMER', '{p}s', 'g', 'dan'],
      ['XPENDING', '{p}s', 'g'], ['XRANGE', '{p}s', '-', '+'],
      ['XGROUP', 'DESTROY', '{p}s', 'g'], ['XGROUP', 'DESTROY', '{p}s', 'g'], ['DEL', '{p}s'], ['XLEN', '{p}s'],
    ]);
  });

  it('MULTI: a command refused when queued aborts the whole transaction; one failing when run fails alone', async () => {
    await sameOnBoth([
      ['SET', '{p}k', 'v'],
      ['MULTI'], ['SET', '{p}a', '1'], ['XADD', '{p}s', '*'], ['INCR', '{p}a'], ['EXEC'], ['GET', '{p}a'], ['EXISTS', '{p}s'],
      ['MULTI'], ['XADD', '{p}s', '*', 'event', 'x'], ['RPUSH', '{p}l'], ['EXEC'], ['EXISTS', '{p}s', '{p}l'],
      ['MULTI'], ['XADD', '{p}s', '*', 'event', 'x'], ['HSET', '{p}h', 'f'], ['EXEC'], ['XLEN', '{p}s'],
      ['MULTI'], ['SET', '{p}a', '1'], ['LPUSH', '{p}k', 'x'], ['INCR', '{p}a'], ['XADD', '{p}s', '*', 'odd'], ['EXEC'], ['GET', '{p}a'], ['XLEN', '{p}s'],
      ['MULTI'], ['MULTI'], ['EXEC'], ['EXEC'], ['DISCARD'],
      ['MULTI'], ['SET', '{p}b', '1'], ['DISCARD'], ['EXISTS', '{p}b'],
      ['MULTI'], ['XLEN', '{p}s'], ['XPENDING', '{p}s', 'nog'], ['XREADGROUP', 'GROUP', 'g', 'c', 'BLOCK', 1000, 'STREAMS', '{p}s', '>'], ['EXEC'],
      ['XGROUP', 'CREATE', '{p}s', 'g', '$'], ['MULTI'], ['XREADGROUP', 'GROUP', 'g', 'c', 'BLOCK', 1000, 'STREAMS', '{p}s', '>'], ['EXEC'],
    ]);
  });

  it('BLOCK: a timeout answers a null array, an entry wakes the reader, a deleted stream or group unblocks it with an error', async () => {
    await sameOnBoth([
      ['XGROUP', 'CREATE', '{p}s', 'g', '0', 'MKSTREAM'],
      ['XREADGROUP', 'GROUP', 'g', 'c', 'COUNT', 5, 'BLOCK', 100, 'STREAMS', '{p}s', '>'],
      { background: ['XREADGROUP', 'GROUP', 'g', 'c', 'COUNT', 5, 'BLOCK', 0, 'STREAMS', '{p}s', '>'] }, { sleep: 100 },
      ['MULTI'], ['XADD', '{p}s', '1-1', 'a', '1'], ['XADD', '{p}s', '1-2', 'a', '2'], ['EXEC'], { collect: true },
      { background: ['XREADGROUP', 'GROUP', 'g', 'c', 'COUNT', 5, 'BLOCK', 5000, 'STREAMS', '{p}s', '>'] }, { sleep: 100 },
      ['XGROUP', 'DESTROY', '{p}s', 'g'], { collect: true },
      ['XGROUP', 'CREATE', '{p}s', 'g', '$'],
      { background: ['XREADGROUP', 'GROUP', 'g', 'c', 'COUNT', 5, 'BLOCK', 5000, 'STREAMS', '{p}s', '>'] }, { sleep: 100 },
      ['DEL', '{p}s'], { collect: true },
      // Deleted and made again in one MULTI: the stream is back, its group not.
      ['XGROUP', 'CREATE', '{p}s', 'g', '$', 'MKSTREAM'],
      { background: ['XREADGROUP', 'GROUP', 'g', 'c', 'COUNT', 5, 'BLOCK', 5000, 'STREAMS', '{p}s', '>'] }, { sleep: 100 },
      ['MULTI'], ['DEL', '{p}s'], ['XADD', '{p}s', '1-1', 'a', '1'], ['EXEC'], { collect: true },
    ]);
  });
});
