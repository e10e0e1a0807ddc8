// The soak's fake relay (tests/soak/soak.ts starts it as a child process): subscribeRepos on loopback offering
// `rate` commits a second from each connection's cursor, each commit a pure function of its seq (so a reconnect
// replays exactly what was sent). It stops writing while its socket's bufferedAmount is over BUFFER_LIMIT (the
// adapter stopped reading and TCP pushed back) and counts each tick it waited. Reports its state over IPC.
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { commitFrame } from './frames.ts';

const BUFFER_LIMIT = 1024 * 1024;
const rate = Number(process.argv[2]);
const epochMicros = BigInt(process.argv[3]!);

const server = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/xrpc/com.atproto.sync.subscribeRepos' });
await new Promise<void>((resolve) => server.once('listening', () => resolve()));
const started = Date.now();
const state = { maxSent: 0, backpressureTicks: 0, maxBuffered: 0, buffered: 0, connections: 0 };
let stopAt: number | undefined;
let current: { socket: WebSocket; next: number } | undefined;
server.on('connection', (socket, req) => {
  const cursor = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('cursor') ?? '0');
  state.connections++;
  current = { socket, next: cursor + 1 };
  socket.on('close', () => {
    if (current?.socket === socket) current = undefined;
  });
});
process.on('message', (m: { stop?: boolean }) => {
  if (m.stop === true) stopAt = state.maxSent;
});
let sending = false;
setInterval(() => {
  if (sending || current === undefined) return;
  sending = true;
  void (async () => {
    const c = current!;
    const offered = Math.floor(((Date.now() - started) / 1000) * rate);
    const allowed = stopAt === undefined ? offered : Math.min(offered, stopAt);
    // At most one tick's worth and a little more per tick, so the loop keeps answering.
    const until = Math.min(allowed, c.next + Math.ceil(rate / 25));
    while (c.next <= until && c.socket.readyState === c.socket.OPEN) {
      state.buffered = c.socket.bufferedAmount;
      state.maxBuffered = Math.max(state.maxBuffered, state.buffered);
      if (state.buffered > BUFFER_LIMIT) {
        state.backpressureTicks++;
        break;
      }
      c.socket.send(await commitFrame(c.next, epochMicros));
      state.maxSent = Math.max(state.maxSent, c.next);
      c.next++;
    }
    sending = false;
  })();
}, 20);
setInterval(() => process.send!({ state: { ...state, buffered: current?.socket.bufferedAmount ?? 0 } }), 250);
process.send!({ host: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
process.on('SIGTERM', () => {
  for (const s of server.clients) s.terminate();
  server.close(() => process.exit(0));
});
