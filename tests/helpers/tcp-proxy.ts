// A TCP proxy on 127.0.0.1 in front of a real service, for outages on demand: `open` forwards bytes both ways,
// `refuse` closes the listening socket (new connections get ECONNREFUSED) and cuts every open one, `drop` keeps
// listening but resets each connection as soon as it is accepted (and cuts the open ones). It never alters bytes, so
// HTTP, WebSockets and anything else pass through unchanged while it is open. `silence` holds every byte both ways
// without closing anything (new connections are accepted and held too): a peer that stops answering while its
// connections look up (a paused VM, a dropped flow), until `silence(false)` lets the held bytes through.
import net from 'node:net';

export type ProxyMode = 'open' | 'refuse' | 'drop';

export interface TcpProxy {
  port: number;
  /** http://localhost:<port>, the form dev-env services use in their URLs. */
  url: string;
  readonly mode: ProxyMode;
  setMode(mode: ProxyMode): Promise<void>;
  /** Holds (true) or lets through (false) the bytes of every connection, open ones and new ones, closing none. */
  silence(on: boolean): void;
  /** Connections forwarded, reset on accept (drop) and cut while open (refuse or drop). */
  readonly stats: { forwarded: number; dropped: number; cut: number };
  close(): Promise<void>;
}

export interface TcpProxyOptions {
  target: { host: string; port: number };
  /** The port to listen on; 0 or absent picks a free one. */
  port?: number;
}

export async function startTcpProxy(options: TcpProxyOptions): Promise<TcpProxy> {
  const open = new Set<net.Socket>();
  const stats = { forwarded: 0, dropped: 0, cut: 0 };
  let mode: ProxyMode = 'open';
  let server: net.Server | undefined;
  let silent = false;
  /** Each connection's two sockets, to stop and start the bytes between them. */
  const pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  const flow = (pair: { client: net.Socket; upstream: net.Socket }) => {
    pair.client.pipe(pair.upstream);
    pair.upstream.pipe(pair.client);
  };
  const hold = (pair: { client: net.Socket; upstream: net.Socket }) => {
    pair.client.unpipe(pair.upstream);
    pair.upstream.unpipe(pair.client);
    pair.client.pause();
    pair.upstream.pause();
  };

  const onConnection = (client: net.Socket) => {
    if (mode !== 'open') {
      // `drop`, or a connection accepted just before `refuse` closed the listener.
      stats.dropped++;
      client.resetAndDestroy();
      return;
    }
    stats.forwarded++;
    const upstream = net.connect(options.target.port, options.target.host);
    open.add(client);
    open.add(upstream);
    const pair = { client, upstream };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      open.delete(client);
      open.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    if (silent) hold(pair);
    else flow(pair);
  };

  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      const s = net.createServer(onConnection);
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        s.off('error', reject);
        server = s;
        resolve((s.address() as net.AddressInfo).port);
      });
    });
  const stopListening = () =>
    new Promise<void>((resolve) => {
      const s = server;
      server = undefined;
      if (s === undefined) resolve();
      else s.close(() => resolve());
    });
  const cutAll = () => {
    // Pairs are cut together by their close handlers; count the client side once per pair.
    stats.cut += Math.floor(open.size / 2);
    for (const socket of [...open]) socket.resetAndDestroy();
  };

  const port = await listen(options.port ?? 0);
  return {
    port,
    url: `http://localhost:${port}`,
    get mode() {
      return mode;
    },
    stats,
    async setMode(next) {
      if (next === mode) return;
      const previous = mode;
      mode = next;
      if (next !== 'open') cutAll();
      if (next === 'refuse') await stopListening();
      else if (previous === 'refuse') await listen(port);
    },
    silence(on) {
      if (on === silent) return;
      silent = on;
      for (const pair of pairs) (on ? hold : flow)(pair);
    },
    async close() {
      mode = 'refuse';
      cutAll();
      await stopListening();
    },
  };
}
