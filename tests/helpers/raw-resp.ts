// A Redis client that keeps each reply as the server wrote it (RESP2: a status and a bulk string stay apart, a null
// bulk and a null array too), for comparing two servers byte for byte. ioredis would hide exactly those differences.
import net from 'node:net';

export type RespNode =
  | { type: '+' | '-' | ':'; value: string }
  | { type: '$'; value: string | null }
  | { type: '*'; value: RespNode[] | null };

/** Parses one reply at `pos`; undefined until the buffer holds all of it. */
function parse(buf: Buffer, pos: number): [RespNode, number] | undefined {
  const eol = buf.indexOf('\r\n', pos);
  if (eol < 0) return undefined;
  const type = String.fromCharCode(buf[pos] as number);
  const head = buf.subarray(pos + 1, eol).toString('latin1');
  const after = eol + 2;
  if (type === '+' || type === '-' || type === ':') return [{ type, value: head }, after];
  const n = Number(head);
  if (type === '$') {
    if (n < 0) return [{ type, value: null }, after];
    if (buf.length < after + n + 2) return undefined;
    return [{ type, value: buf.subarray(after, after + n).toString('latin1') }, after + n + 2];
  }
  if (type === '*') {
    if (n < 0) return [{ type, value: null }, after];
    const items: RespNode[] = [];
    let at = after;
    for (let i = 0; i < n; i++) {
      const item = parse(buf, at);
      if (item === undefined) return undefined;
      items.push(item[0]);
      at = item[1];
    }
    return [{ type, value: items }, at];
  }
  throw new Error(`not a RESP2 reply: ${JSON.stringify(buf.subarray(pos, pos + 20).toString('latin1'))}`);
}

/** The reply as RESP2 text again (latin1: one char per byte). */
export function encodeResp(node: RespNode): string {
  if (node.type === '$') return node.value === null ? '$-1\r\n' : `$${node.value.length}\r\n${node.value}\r\n`;
  if (node.type === '*') return node.value === null ? '*-1\r\n' : `*${node.value.length}\r\n${node.value.map(encodeResp).join('')}`;
  return `${node.type}${node.value}\r\n`;
}

export interface RawRedis {
  /** Sends one command; resolves with its reply (replies come in order, so several may be in flight). */
  send(args: readonly (string | number)[]): Promise<RespNode>;
  close(): void;
}

export async function connectRaw(port: number, host = '127.0.0.1'): Promise<RawRedis> {
  const socket = net.connect(port, host);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let buf = Buffer.alloc(0);
  const waiting: ((node: RespNode) => void)[] = [];
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      const next = waiting[0] === undefined ? undefined : parse(buf, 0);
      if (next === undefined) return;
      buf = buf.subarray(next[1]);
      waiting.shift()!(next[0]);
    }
  });
  return {
    send: (args) =>
      new Promise<RespNode>((resolve) => {
        waiting.push(resolve);
        const parts = args.map((a) => Buffer.from(String(a), 'latin1'));
        socket.write(Buffer.concat([Buffer.from(`*${parts.length}\r\n`), ...parts.flatMap((p) => [Buffer.from(`$${p.length}\r\n`), p, Buffer.from('\r\n')])]));
      }),
    close: () => socket.destroy(),
  };
}
