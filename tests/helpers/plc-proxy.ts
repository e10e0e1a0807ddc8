// An HTTP proxy on 127.0.0.1 in front of a real PLC directory, for outage tests: it forwards lookups, or refuses
// every connection (an unreachable directory: the socket is cut as soon as it opens), or answers 503 for chosen DIDs
// (a directory that keeps failing for one DID while it serves the others). Counts the lookups that reached it.
import http from 'node:http';
import type { Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface PlcProxy {
  url: string;
  /** Cuts every open connection and every new one while true. */
  refuse(on: boolean): void;
  /** DIDs answered with 503. */
  failing: Set<string>;
  /** Lookups that reached the directory or a 503, per DID. */
  lookups: Map<string, number>;
  close(): Promise<void>;
}

export async function startPlcProxy(upstream: string): Promise<PlcProxy> {
  let refusing = false;
  const sockets = new Set<Socket>();
  const failing = new Set<string>();
  const lookups = new Map<string, number>();
  const server = http.createServer(async (req, res) => {
    const did = decodeURIComponent((req.url ?? '/').slice(1).split('?')[0] ?? '');
    lookups.set(did, (lookups.get(did) ?? 0) + 1);
    if (failing.has(did)) return void res.writeHead(503).end('unavailable');
    try {
      const up = await fetch(`${upstream.replace(/\/+$/, '')}${req.url ?? '/'}`, { headers: { accept: req.headers.accept ?? '*/*' } });
      const body = Buffer.from(await up.arrayBuffer());
      res.writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? 'application/json', 'content-length': body.length }).end(body);
    } catch {
      res.writeHead(502).end();
    }
  });
  server.on('connection', (socket) => {
    if (refusing) return void socket.destroy();
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    refuse(on) {
      refusing = on;
      if (on) for (const s of sockets) s.destroy();
    },
    failing,
    lookups,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
