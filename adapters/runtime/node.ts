// Serves the Hono app under Node. Wiring only: the app is built elsewhere.
import { serve, type ServerType } from '@hono/node-server';
import type { Hono } from 'hono';

export interface ServedApp {
  port: number;
  close(): Promise<void>;
  /** Resolves when the server stops for any reason (the supervisor treats that as a task exit). */
  closed: Promise<void>;
}

export function serveApp(app: Hono, options: { host: string; port: number }): Promise<ServedApp> {
  return new Promise((resolve, reject) => {
    let server: ServerType | undefined;
    let onClosed: () => void = () => {};
    const closed = new Promise<void>((r) => (onClosed = r));
    server = serve({ fetch: app.fetch, hostname: options.host, port: options.port }, (info) => {
      resolve({
        port: info.port,
        closed,
        close: () =>
          new Promise<void>((r) => {
            server?.close(() => r());
          }),
      });
    });
    server.once('error', reject);
    server.once('close', () => onClosed());
  });
}
