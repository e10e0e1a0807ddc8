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
  it('MULTI: a command refused when queued aborts the whole transaction; one failing when run fails alone', async () => {
    await sameOnBoth([
      ['SET', '{p}k', 'v'],
      ['MULTI'], ['SET', '{p}a', '1'], ['XADD', '{p}s', '*'], ['INCR', '{p}a'], ['EXEC'], ['GET', '{p}a'], ['EXISTS', '{p}s'],
      ['MULTI'], ['XADD', '{p}s', '*', 'event', 'x'], ['RPUSH', '{p}l'], ['EXEC'], ['EXISTS', '{p}s', '{p}l'],
      ['MULTI'], ['XADD', '{p}s', '*', 'event', 'x'], ['HSET', '{p}h', 'f'], ['EXEC'], ['XLEN', '{p}s'],
      ['MULTI'], ['SET', '{p}a', '1'], ['LPUSH', '{p}k', 'x'], ['INCR', '{p}a'], ['XADD', '{p}s', '*', 'odd'], ['EXEC'], ['GET', '{p}a'], ['XLEN', '{p}s'],
      ['MULTI'], ['MULTI'], ['EXEC'], ['EXEC'], ['DISCARD'],
      ['MULTI'], ['SET', '{p}b', '1'], ['DISCARD'], ['EXISTS', '{p}b'],
      ['MULTI'], ['XLEN', '{p}s'], ['XPENDING', '{p}s', 'nog'], ['EXEC'],
    ]);
  });

});
