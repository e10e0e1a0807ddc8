// RESP2, the Redis wire protocol, as far as the in-process server needs it: requests are arrays of bulk strings (what
// ioredis sends; inline commands too, for a person with telnet), replies are the five RESP2 types. Values travel as
// "byte strings" (latin1: one char per byte), so binary values (parked frames) come back byte for byte.

/**
 * A reply: a status (`+OK`), an error, an integer (a bigint for 64-bit counters), a bulk string or null (`$-1`), an array of replies or a null array
 * (`*-1`: what Redis answers for no read at all, and for the fields of an entry deleted while pending).
 */
export type Reply = Status | ReplyError | number | bigint | string | null | NullArray | readonly Reply[];

export class Status {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}
export class ReplyError {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}
export class NullArray {}
export const NULL_ARRAY = new NullArray();
export const OK = new Status('OK');

export function encode(reply: Reply, out: Buffer[]): void {
  if (reply === null) out.push(Buffer.from('$-1\r\n'));
  else if (reply instanceof NullArray) out.push(Buffer.from('*-1\r\n'));
  else if (typeof reply === 'number') out.push(Buffer.from(`:${Math.trunc(reply)}\r\n`));
  else if (typeof reply === 'bigint') out.push(Buffer.from(`:${reply}\r\n`)); // a counter past 2^53, exact
  else if (typeof reply === 'string') {
    const body = Buffer.from(reply, 'latin1');
    out.push(Buffer.from(`$${body.length}\r\n`), body, Buffer.from('\r\n'));
  } else if (reply instanceof Status) out.push(Buffer.from(`+${reply.text}\r\n`));
  else if (reply instanceof ReplyError) out.push(Buffer.from(`-${reply.text.replace(/[\r\n]+/g, ' ')}\r\n`));
  else {
    out.push(Buffer.from(`*${reply.length}\r\n`));
    for (const r of reply) encode(r, out);
  }
}

/** Incremental parser: feed it socket chunks, take whole commands out. */
export class RequestParser {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
  }

  /** The next whole command (as byte strings), or undefined until more bytes arrive. Throws on a protocol error. */
  next(): string[] | undefined {
    if (this.buf.length === 0) return undefined;
    if (this.buf[0] !== 0x2a /* '*' */) {
      const eol = this.buf.indexOf('\r\n');
      if (eol < 0) return undefined;
      const line = this.buf.subarray(0, eol).toString('latin1');
      this.buf = this.buf.subarray(eol + 2);
      const parts = line.trim().split(/\s+/).filter(Boolean);
      return parts.length === 0 ? this.next() : parts;
    }
    let pos = 0;
    const readLine = (): string | undefined => {
      const eol = this.buf.indexOf('\r\n', pos);
      if (eol < 0) return undefined;
      const line = this.buf.subarray(pos, eol).toString('latin1');
      pos = eol + 2;
      return line;
    };
    const head = readLine();
    if (head === undefined) return undefined;
    const count = Number(head.slice(1));
    if (!Number.isInteger(count) || count < 0 || count > 1_048_576) throw new Error(`bad multibulk length ${head}`);
    const args: string[] = [];
    for (let i = 0; i < count; i++) {
      const len = readLine();
      if (len === undefined) return undefined;
      if (len[0] !== '$') throw new Error(`expected '$', got ${JSON.stringify(len.slice(0, 10))}`);
      const n = Number(len.slice(1));
      if (!Number.isInteger(n) || n < 0) throw new Error(`bad bulk length ${len}`);
      if (this.buf.length < pos + n + 2) return undefined;
      args.push(this.buf.subarray(pos, pos + n).toString('latin1'));
      pos += n + 2;
    }
    this.buf = this.buf.subarray(pos);
    return args;
  }
}
