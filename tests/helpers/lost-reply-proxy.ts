// A TCP proxy on 127.0.0.1 in front of a real Redis that loses one batch's reply on demand: once armed, the next
// client write holding an EXEC, EVAL or EVALSHA is forwarded, Redis runs it, and the client's socket is cut before
// any reply reaches it. The client sees a connection that died with its transaction in flight, exactly as when a network drops right
// after Redis executed it; every other byte passes unchanged.
// It can also black-hole the connections open at a moment (`blackhole`): they stop forwarding, in both directions or
// only Redis's replies, and stay open, as when a failover, a NAT or firewall dropping its state or a paused VM leaves
// a peer gone without a FIN or RST. Connections made afterwards pass as usual (a new flow through the NAT).
import net from 'node:net';

export interface LostReplyProxy {
  port: number;
  url: string;
  /** Loses the reply of the next EXEC, EVAL or EVALSHA (once). */
  arm(): void;
  /** Replies lost so far. */
  readonly lost: number;
  /**
   * Every connection open now stops forwarding (`replies`: only what Redis sends back, so Redis still runs what the
   * client sends), without closing; returns how many. Their bytes are dropped until they close.
   */
  blackhole(what?: 'both' | 'replies'): number;
  close(): Promise<void>;
}

/** RESP for a command named EXEC, EVAL or EVALSHA, as clients send it (ioredis: lower case). */
const BATCH = /\*\d+\r\n\$(?:4\r\nexec|4\r\neval|7\r\nevalsha)\r\n/i;

export async function startLostReplyProxy(target: { host: string; port: number }): Promise<LostReplyProxy> {
  const open = new Set<net.Socket>();
  let armed = false;
  let lost = 0;
  const blackholes = new Set<(what: 'both' | 'replies') => void>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    open.add(client);
    open.add(upstream);
    let swallowing = false;
    let dropRequests = false;
    let dropReplies = false;
    const blackhole = (what: 'both' | 'replies') => {
      dropReplies = true;
      dropRequests = what === 'both';
    };
    blackholes.add(blackhole);
    const end = () => {
      blackholes.delete(blackhole);
      open.delete(client);
      open.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.on('data', (chunk: Buffer) => {
      if (swallowing || dropRequests) return;
      if (armed && BATCH.test(chunk.toString('latin1'))) {
        armed = false;
        swallowing = true;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (dropReplies) return;
      if (!swallowing) {
        client.write(chunk);
        return;
      }
      // Redis answered: it ran the batch. Its reply goes nowhere and the client's connection dies.
      lost++;
      end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    arm: () => {
      armed = true;
    },
    get lost() {
      return lost;
    },
    blackhole: (what = 'both') => {
      for (const b of blackholes) b(what);
      return blackholes.size;
    },
    close: async () => {
      for (const s of [...open]) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
