// A DNS server of a test's own on 127.0.0.1 (UDP, RFC 1035 wire format), answering TXT and A questions as the test
// says per name: records, NXDOMAIN, SERVFAIL, an empty answer, or silence (the resolver times out). Point a
// node:dns Resolver at it with setServers; nothing here touches the machine's resolver.
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';

export type DnsBehaviour =
  | { txt: string[] }
  | { a: string }
  | { rcode: 'NXDOMAIN' | 'SERVFAIL' | 'REFUSED' }
  | 'empty'
  | 'silent';

export interface FakeDns {
  /** host:port for Resolver.setServers. */
  server: string;
  /** Behaviour per lowercase name (without the trailing dot); names not set answer NXDOMAIN. */
  set(name: string, behaviour: DnsBehaviour): void;
  close(): Promise<void>;
}

const RCODES = { NXDOMAIN: 3, SERVFAIL: 2, REFUSED: 5 } as const;
const TYPE_A = 1;
const TYPE_TXT = 16;

function readName(msg: Buffer, offset: number): { name: string; end: number } {
  const labels: string[] = [];
  let i = offset;
  while (msg[i]! !== 0) {
    const len = msg[i]!;
    labels.push(msg.subarray(i + 1, i + 1 + len).toString('ascii'));
    i += 1 + len;
  }
  return { name: labels.join('.').toLowerCase(), end: i + 1 };
}

function answer(type: number, rdata: Buffer): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
  head.writeUInt16BE(type, 2);
  head.writeUInt16BE(1, 4); // IN
  head.writeUInt32BE(60, 6);
  head.writeUInt16BE(rdata.length, 10);
  return Buffer.concat([head, rdata]);
}

export async function startFakeDns(): Promise<FakeDns> {
  const behaviours = new Map<string, DnsBehaviour>();
  const socket = dgram.createSocket('udp4');
  socket.on('message', (msg, peer) => {
    const { name, end } = readName(msg, 12);
    const qtype = msg.readUInt16BE(end);
    const question = msg.subarray(12, end + 4);
    const behaviour = behaviours.get(name) ?? { rcode: 'NXDOMAIN' };
    if (behaviour === 'silent') return;
    let rcode = 0;
    const answers: Buffer[] = [];
    if (behaviour !== 'empty' && 'rcode' in behaviour) rcode = RCODES[behaviour.rcode];
    else if (behaviour !== 'empty' && 'txt' in behaviour && qtype === TYPE_TXT) {
      for (const text of behaviour.txt) answers.push(answer(TYPE_TXT, Buffer.concat([Buffer.from([text.length]), Buffer.from(text, 'ascii')])));
    } else if (behaviour !== 'empty' && 'a' in behaviour && qtype === TYPE_A) {
      answers.push(answer(TYPE_A, Buffer.from(behaviour.a.split('.').map(Number))));
    }
    const header = Buffer.alloc(12);
    header.writeUInt16BE(msg.readUInt16BE(0), 0);
    header.writeUInt16BE(0x8180 | rcode, 2); // a response, recursion desired and available
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    socket.send(Buffer.concat([header, question, ...answers]), peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  return {
    server: `127.0.0.1:${(socket.address() as AddressInfo).port}`,
    set: (name, behaviour) => void behaviours.set(name.toLowerCase(), behaviour),
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}
