// Text messages (which the event stream does not allow) take a place in the read queue like binary frames, so a
// queue full of them stops reading the socket too: an upstream streaming text while the subscription is busy (a batch
// write waiting on Redis) must not grow the queue without bound, one slot per message.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AddressInfo } from 'node:net';
import { openFrameSource } from '../../../long-runners/subscription/ws-source.ts';
import { waitFor } from '../../helpers/wait.ts';

let server: WebSocketServer;
let url: string;
let peer: WebSocket | undefined;

beforeAll(async () => {
  server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => server.once('listening', () => r()));
  url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  server.on('connection', (socket) => (peer = socket));
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
});

describe('a read queue full of text messages', () => {
  it('holds reading, as a queue full of binary frames does, and lets go once drained', async () => {
    const source = openFrameSource(url, { maxQueuedFrames: 100, maxQueuedBytes: 1024 * 1024, heartbeatMs: 60_000, maxPayloadBytes: 1024 });
    try {
      await source.opened;
      await waitFor(() => peer, (p) => p !== undefined, 'the connection');
      // Nobody reads the source meanwhile (the subscription is busy).
      for (let i = 0; i < 100; i++) peer!.send(`text ${i}`);
      await waitFor(() => source.held, (held) => held, 'reading held by the full queue');
      for (let i = 0; i < 100; i++) expect(await source.next(1000)).toEqual({ kind: 'text' });
      expect(source.held).toBe(false);
    } finally {
      source.close();
    }
  });
});
