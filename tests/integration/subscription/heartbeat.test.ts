// The heartbeat finds a dead connection, and only a dead one: a peer that neither answers pings nor sends anything is
// cut after two heartbeats; one whose pongs are late but whose frames keep arriving is alive (after a hold on reading,
// the pong comes behind everything the peer sent before it: the soak test's relay, on a slow host, was cut as dead).
// The peer here never answers a ping at all (autoPong off), the harshest case of a late pong.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AddressInfo } from 'node:net';
import { openFrameSource, type NextFrame } from '../../../long-runners/subscription/ws-source.ts';
import { waitFor } from '../../helpers/wait.ts';

let server: WebSocketServer;
let url: string;
let peer: WebSocket | undefined;

beforeAll(async () => {
  server = new WebSocketServer({ host: '127.0.0.1', port: 0, autoPong: false });
  await new Promise<void>((r) => server.once('listening', () => r()));
  url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  server.on('connection', (socket) => (peer = socket));
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
});

const OPTIONS = { maxQueuedFrames: 100, maxQueuedBytes: 1024 * 1024, heartbeatMs: 100, maxPayloadBytes: 1024 };

describe('the heartbeat', () => {
  it('keeps a connection whose frames keep arriving, though no pong comes, across holds on reading', { timeout: 20_000 }, async () => {
    peer = undefined;
    const source = openFrameSource(url, OPTIONS);
    const sending = setInterval(() => peer?.send(Buffer.from([1, 2, 3])), 20);
    try {
      await source.opened;
      await waitFor(() => peer, (p) => p !== undefined, 'the connection');
      // Fifteen heartbeats of frames; a hold on reading for three of them in the middle.
      const seen: NextFrame['kind'][] = [];
      for (let round = 0; round < 3; round++) {
        const until = Date.now() + 500;
        while (Date.now() < until) seen.push((await source.next(200)).kind);
        if (round === 1) {
          source.hold('test');
          await new Promise((r) => setTimeout(r, 300));
          source.release('test');
        }
      }
      expect(seen).not.toContain('closed');
      expect(seen.filter((k) => k === 'frame').length).toBeGreaterThan(10);
    } finally {
      clearInterval(sending);
      source.close();
    }
  });

  it('cuts a connection that neither answers pings nor sends anything', { timeout: 20_000 }, async () => {
    peer = undefined;
    const source = openFrameSource(url, OPTIONS);
    try {
      await source.opened;
      let next: NextFrame;
      do next = await source.next(200);
      while (next.kind === 'timeout');
      expect(next).toEqual({ kind: 'closed', reason: 'heartbeat: no pong', oversized: false });
    } finally {
      source.close();
    }
  });
});
