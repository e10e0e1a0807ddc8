// Serves the Hono app under Node. Wiring only: the app is built elsewhere.
// Once listening, the server's end is reported, never swallowed: `closed` resolves only after `close()` was asked for,
// and rejects when the server stops listening on its own ('close' nobody asked for) or fails ('error' after start:
// accept failing), so the task serving it fails with the reason instead of leaving the process up without its
// /health, /ready and /metrics.
import { serve, type ServerType } from '@hono/node-server';
import type { Hono } from 'hono';
import { describeError } from '../../functions/errors.ts';

export interface ServedApp {
  port: number;
  close(): Promise<void>;
  /**
   * Settles when the server stops: resolves after `close()`, rejects (ServerStoppedError) when it stopped listening
   * or failed without being asked to.
   */
  closed: Promise<void>;
}

/** The server stopped listening, or failed, while nothing asked it to close. */
export class ServerStoppedError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ServerStoppedError';
  }
}

export function serveApp(app: Hono, options: { host: string; port: number }): Promise<ServedApp> {
  return new Promise((resolve, reject) => {
    let listening = false;
    let where = `${options.host}:${options.port}`;
    let closing = false;
    let stopped: (err?: ServerStoppedError) => void = () => {};
    const closed = new Promise<void>((done, fail) => {
      stopped = (err) => (err === undefined ? done() : fail(err));
    });
    // Seen by whoever awaits it; never an unhandled rejection of its own meanwhile.
    closed.catch(() => {});
    const close = () =>
      new Promise<void>((r) => {
        closing = true;
        // Already closed (on its own): its 'close' has settled `closed` already.
        if (!server.listening) return r();
        server.close(() => r());
      });
    const server: ServerType = serve({ fetch: app.fetch, hostname: options.host, port: options.port }, (info) => {
      listening = true;
      where = `${options.host}:${info.port}`;
      resolve({ port: info.port, closed, close });
    });
    // A listener for the server's whole life: an 'error' with none would be an uncaught exception, naming no task.
    server.on('error', (err) => {
      if (!listening) return reject(err);
      if (closing) return;
      stopped(new ServerStoppedError(`http server on ${where} failed after it started listening: ${describeError(err)}`, { cause: err }));
      // Whatever state the failure left it in, its port is let go: the process is about to stop.
      closing = true;
      if (server.listening) server.close();
    });
    server.on('close', () => {
      if (closing) return stopped();
      stopped(new ServerStoppedError(`http server on ${where} stopped listening without being asked to`));
    });
  });
}
