// A tiny authoritative DNS server on 127.0.0.1 (UDP) for tests that need real resolver answers: an A record, NXDOMAIN,
// SERVFAIL, or silence, per name. Queried through node:dns's Resolver (c-ares), so the errors tests see are the ones
// Node really raises. Only what a test needs of RFC 1035: one question, class IN, A answers.
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';

export type DnsAnswer = { a: string } | 'nxdomain' | 'servfail' | 'silent';

export interface DnsServer {
  /** For Resolver.setServers: 127.0.0.1:<port>. */
  address: string;
  close(): Promise<void>;
}

function questionEnd(msg: Buffer): { name: string; end: number } {
  const labels: string[] = [];
  let i = 12;
  while (i < msg.length && msg[i] !== 0) {
    const len = msg[i]!;
    labels.push(msg.subarray(i + 1, i + 1 + len).toString('ascii'));
    i += 1 + len;
  }
  return { name: labels.join('.').toLowerCase(), end: i + 5 }; // zero byte + QTYPE + QCLASS
}

export async function startDnsServer(answer: (name: string) => DnsAnswer): Promise<DnsServer> {
  const socket = dgram.createSocket('udp4');
  socket.on('message', (msg, peer) => {
    if (msg.length < 12) return;
    const { name, end } = questionEnd(msg);
    const a = answer(name);
    if (a === 'silent') return;
    const rcode = a === 'nxdomain' ? 3 : a === 'servfail' ? 2 : 0;
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2); // id
    header.writeUInt16BE(0x8000 | 0x0400 | (msg.readUInt16BE(2) & 0x0100) | 0x0080 | rcode, 2); // QR, AA, RD as asked, RA
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(typeof a === 'object' ? 1 : 0, 6);
    const question = msg.subarray(12, end);
    const parts = [header, question];
    if (typeof a === 'object') {
      const rr = Buffer.alloc(16);
      rr.writeUInt16BE(0xc00c, 0); // name: pointer to the question
      rr.writeUInt16BE(1, 2); // A
      rr.writeUInt16BE(1, 4); // IN
      rr.writeUInt32BE(60, 6);
      rr.writeUInt16BE(4, 10);
      a.a.split('.').forEach((octet, k) => rr.writeUInt8(Number(octet), 12 + k));
      parts.push(rr);
    }
    socket.send(Buffer.concat(parts), peer.port, peer.address);
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  return {
    address: `127.0.0.1:${(socket.address() as AddressInfo).port}`,
    close: () => new Promise((r) => socket.close(() => r())),
  };
}
