// A real WebSocket server on 127.0.0.1 that serves subscribeRepos from an in-memory log of sequenced frames, the way
// a relay does: `cursor=N` replays frames after N, `cursor=0` from the oldest, no cursor means live only. Tests can
// also push raw frames (malformed, #info, error frames) and see which cursor each connection asked for. It serves a
// labeler's subscribeLabels the same way when asked to.
import { WebSocketServer, type WebSocket } from 'ws';
import type { AddressInfo } from 'node:net';

export interface FakeRelay {
  /** `http://127.0.0.1:<port>`: the adapter turns http:// into ws://. */
  host: string;
  /** The cursor query parameter of every connection so far (null: none sent). */
  cursors: (string | null)[];
  append(seq: number, frame: Uint8Array): void;
  /** Sends bytes to every open connection, outside the log. */
  broadcast(frame: Uint8Array): void;
  /** Runs for every new connection before the replay; return false to skip the replay. */
  onConnect?: (socket: WebSocket, cursor: string | null) => boolean | void;
  dropConnections(): void;
  readonly openConnections: number;
  close(): Promise<void>;
}

/** `nsid`: the subscription it serves (a labeler's com.atproto.label.subscribeLabels has the same cursor rules). */
export async function startFakeRelay(nsid = 'com.atproto.sync.subscribeRepos'): Promise<FakeRelay> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, path: `/xrpc/${nsid}` });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const log: { seq: number; frame: Uint8Array }[] = [];
  const live = new Map<WebSocket, number>();
  const relay: FakeRelay = {
    host: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    cursors: [],
    append(seq, frame) {
      log.push({ seq, frame });
      for (const [socket, after] of live) if (seq > after) socket.send(frame);
    },
    broadcast(frame) {
      for (const socket of live.keys()) socket.send(frame);
    },
    dropConnections() {
      for (const socket of live.keys()) socket.terminate();
    },
    get openConnections() {
      return live.size;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of live.keys()) socket.terminate();
        server.close(() => resolve());
      }),
  };
  server.on('connection', (socket, req) => {
    const cursor = new URL(req.url ?? '/', 'http://x').searchParams.get('cursor');
    relay.cursors.push(cursor);
    socket.on('close', () => live.delete(socket));
    socket.on('error', () => live.delete(socket));
    if (relay.onConnect?.(socket, cursor) === false) return;
    const after = cursor === null ? (log.at(-1)?.seq ?? 0) : Number(cursor);
    for (const entry of log) if (entry.seq > after) socket.send(entry.frame);
    live.set(socket, Math.max(after, log.at(-1)?.seq ?? after));
  });
  return relay;
}
