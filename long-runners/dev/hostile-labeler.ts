// A labeler on 127.0.0.1 that says whatever a test tells it to: a WebSocket server for
// com.atproto.label.subscribeLabels serving a log of frames after the requested cursor (0: all of it), then whatever
// is appended while connected. Frames are raw bytes, so they can be forged, malformed or out of order.
import { WebSocketServer, type WebSocket } from 'ws';
import type { AddressInfo } from 'node:net';

export interface HostileLabeler {
  /** `http://127.0.0.1:<port>`: the host to follow, and the #atproto_labeler endpoint its DID document names. */
  host: string;
  append(frame: Uint8Array): void;
  close(): Promise<void>;
}

export async function startHostileLabeler(): Promise<HostileLabeler> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/xrpc/com.atproto.label.subscribeLabels' });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const log: Uint8Array[] = [];
  const live = new Set<WebSocket>();
  server.on('connection', (socket) => {
    socket.on('close', () => live.delete(socket));
    socket.on('error', () => live.delete(socket));
    // Position in the log is what a test controls here; seqs inside the frames may lie.
    for (const frame of log) socket.send(frame);
    live.add(socket);
  });
  return {
    host: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    append(frame) {
      log.push(frame);
      for (const socket of live) socket.send(frame);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of live) socket.terminate();
        server.close(() => resolve());
      }),
  };
}
