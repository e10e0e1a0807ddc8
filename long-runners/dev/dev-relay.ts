// The simulated network's relay: in front of the dev PDS on 127.0.0.1, it serves subscribeRepos (each subscriber gets
// its own upstream connection from its cursor, frames passed through unchanged) and proxies every other XRPC call
// (listRepos, getRepo, ...) to the PDS. On demand it injects the faults a real relay shows, to every subscriber:
//   disconnect       closes every subscriber's socket (they reconnect from their cursor)
//   malformed_frame  sends bytes that are no CBOR frame
//   repeated_seq     sends the last frame again (same seq)
//   lower_seq        sends an older frame again (a lower seq)
//   slow_pds         holds every proxied XRPC call 3 s for the next 20 s
//   failing_pds      answers 502 to every proxied XRPC call for the next 10 s
//   rev_gap, sync, too_big, bad_signature  rewrite the next #commit with ops each subscriber gets (frame-faults.ts)
// Each injection is counted, and the pipeline's own counters (status page, /metrics) show what it made of it.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { FRAME_FAULTS, applyFrameFault, commitWithOps, isFrameFault, type FrameFault } from './frame-faults.ts';

export const RELAY_FAULTS = ['disconnect', 'malformed_frame', 'repeated_seq', 'lower_seq', 'slow_pds', 'failing_pds', ...FRAME_FAULTS] as const;
export type RelayFault = (typeof RELAY_FAULTS)[number];

export interface DevRelay {
  url: string;
  inject(fault: RelayFault): { subscribers: number };
  injected(): Readonly<Record<RelayFault, number>>;
  close(): Promise<void>;
}

const SUBSCRIBE = '/xrpc/com.atproto.sync.subscribeRepos';
const RECENT = 32;

export async function startDevRelay(pdsUrl: string): Promise<DevRelay> {
  const counts = Object.fromEntries(RELAY_FAULTS.map((f) => [f, 0])) as Record<RelayFault, number>;
  const subscribers = new Set<{ socket: WebSocket; recent: Buffer[]; armed: FrameFault[] }>();
  let slowUntil = 0;
  let failingUntil = 0;

  const server = http.createServer((req, res) => {
    void (async () => {
      if (Date.now() < failingUntil) {
        res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'UpstreamFailure', message: 'injected: failing PDS' }));
        return;
      }
      if (Date.now() < slowUntil) await new Promise((r) => setTimeout(r, 3000));
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && !['host', 'connection', 'content-length'].includes(k)) headers[k] = v;
      const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined;
      const upstream = await fetch(new URL(req.url ?? '/', pdsUrl), { method: req.method ?? 'GET', headers, ...(body === undefined ? {} : { body }) });
      const out: Record<string, string> = {};
      upstream.headers.forEach((v, k) => {
        if (!['content-encoding', 'content-length', 'transfer-encoding', 'connection'].includes(k)) out[k] = v;
      });
      res.writeHead(upstream.status, out).end(Buffer.from(await upstream.arrayBuffer()));
    })().catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'UpstreamFailure', message: String(err) }));
    });
  });

  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://relay');
    if (url.pathname !== SUBSCRIBE) return socket.destroy();
    wss.handleUpgrade(req, socket, head, (client) => {
      const upstreamUrl = new URL(SUBSCRIBE, pdsUrl.replace(/^http/, 'ws'));
      const cursor = url.searchParams.get('cursor');
      if (cursor !== null) upstreamUrl.searchParams.set('cursor', cursor);
      const upstream = new WebSocket(upstreamUrl);
      const sub = { socket: client, recent: [] as Buffer[], armed: [] as FrameFault[] };
      subscribers.add(sub);
      // Frames go out in upstream order; a chain only because a frame fault may have to hash a rewritten commit.
      let chain = Promise.resolve();
      const send = (data: Uint8Array) => {
        if (client.readyState === WebSocket.OPEN) client.send(data);
      };
      upstream.on('message', (data: Buffer) => {
        sub.recent.push(data);
        if (sub.recent.length > RECENT) sub.recent.shift();
        chain = chain.then(async () => {
          const commit = sub.armed.length > 0 ? commitWithOps(data) : undefined;
          if (commit === undefined) return send(data);
          for (const out of await applyFrameFault(sub.armed.shift()!, commit)) send(out);
        }).catch(() => send(data));
      });
      const end = () => {
        subscribers.delete(sub);
        upstream.close();
        if (client.readyState === WebSocket.OPEN) client.close();
      };
      upstream.on('close', end);
      upstream.on('error', end);
      client.on('close', end);
      client.on('error', end);
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    inject(fault) {
      counts[fault]++;
      const live = [...subscribers].filter((s) => s.socket.readyState === WebSocket.OPEN);
      for (const s of live) {
        if (fault === 'disconnect') s.socket.terminate();
        else if (fault === 'malformed_frame') s.socket.send(Buffer.from([0xff, 0xfe, 0x00, 0x13, 0x37]));
        else if (fault === 'repeated_seq' && s.recent.length > 0) s.socket.send(s.recent[s.recent.length - 1] as Buffer);
        else if (fault === 'lower_seq' && s.recent.length > 1) s.socket.send(s.recent[Math.max(0, s.recent.length - 8)] as Buffer);
        else if (isFrameFault(fault)) s.armed.push(fault);
      }
      if (fault === 'slow_pds') slowUntil = Date.now() + 20_000;
      if (fault === 'failing_pds') failingUntil = Date.now() + 10_000;
      return { subscribers: live.length };
    },
    injected: () => ({ ...counts }),
    close: async () => {
      for (const s of subscribers) s.socket.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
