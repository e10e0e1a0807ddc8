// The HTTP servers of `skytide run` (the `http` task with every route, and `http:operations`, the /health, /ready and
// /metrics of a process without it) under the supervisor, as the CLI builds them (parseConfig, createResources,
// httpTask, operationsHttpTask), listening on 127.0.0.1: a server that stops listening without being asked, or fails
// after it started, is its task's failure, logged with the task's name and why, and the process exits 1; a server
// that is asked to stop (SIGTERM) stops cleanly, exit 0. The test reaches the real server the task made through
// node:diagnostics_channel (`http.server.request.start` names the server that took a request) and closes it from
// outside, as a listener that dies would; a failure after start is the 'error' a failed accept emits on it (Node's
// libuv keeps EMFILE to itself, so no real accept failure can be produced on demand).
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../adapters/config/parse.ts';
import { createLogger } from '../../../adapters/observability/logger.ts';
import { createResources, type Resources } from '../../../long-runners/cli/resources.ts';
import { httpTask, operationsHttpTask } from '../../../long-runners/cli/tasks.ts';
import { supervise, type ProcessLike, type Task } from '../../../long-runners/supervisor.ts';
import { createTestRedis, createTestSchema, TEST_REDIS_URL } from '../../helpers/services.ts';
import { freePort } from '../../helpers/free-port.ts';
import { waitFor } from '../../helpers/wait.ts';

let prefix: string;
let cleanupRedis: () => Promise<void>;
let db: { url: string; drop: () => Promise<void> };

beforeAll(async () => {
  ({ prefix, cleanup: cleanupRedis } = await createTestRedis('http_server_stops'));
  db = await createTestSchema('http_server_stops');
});
afterAll(async () => {
  await db?.drop();
  await cleanupRedis?.();
});

async function resources(): Promise<{ r: Resources; port: number }> {
  const port = await freePort();
  const { config } = parseConfig({
    REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: prefix, DATABASE_URL: db.url, HTTP_HOST: '127.0.0.1', HTTP_PORT: String(port), LOG_LEVEL: 'error',
  });
  return { r: createResources(config, 'http-test'), port };
}

function harness() {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level: 'info', component: 'test', write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) });
  const proc = new EventEmitter() as EventEmitter & ProcessLike;
  return { lines, log, proc };
}

/** The server answering on `port`: asks /health once it answers, and takes the server that took the request. */
async function serverOn(port: number): Promise<Server> {
  let found: Server | undefined;
  const onRequest = (message: unknown) => {
    const { server, socket } = message as { server: Server; socket: { localPort?: number } };
    if (socket.localPort === port) found = server;
  };
  subscribe('http.server.request.start', onRequest);
  try {
    await waitFor(() => fetch(`http://127.0.0.1:${port}/health`).then((res) => res.status, () => 0), (s) => s === 200, '/health answering');
  } finally {
    unsubscribe('http.server.request.start', onRequest);
  }
  if (found === undefined) throw new Error(`no server took the request on port ${port}`);
  return found;
}

const connects = (port: number) => fetch(`http://127.0.0.1:${port}/health`).then(() => true, () => false);

const cases: [string, (r: Resources) => Task][] = [
  ['http', (r) => httpTask(r)],
  ['http:operations', (r) => operationsHttpTask(r, ['firehose'])],
];

describe.each(cases)('the %s server under the supervisor', (name, task) => {
  it('stops listening without being asked: the task fails, named with why, the others are stopped, exit 1', async () => {
    const { lines, log, proc } = harness();
    const { r, port } = await resources();
    try {
      // A loop beside it, as every process has: stopped when the server's task fails.
      const beside: Task = { name: 'beside', run: (signal) => new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true })) };
      const done = supervise([task(r), beside], { log, process: proc, shutdownTimeoutMs: 5000 });
      const server = await serverOn(port);
      server.close();
      expect(await done).toBe(1);
      expect(await connects(port)).toBe(false);
      const exited = lines.find((l) => l['msg'] === 'task exited');
      expect(exited).toMatchObject({ level: 'error', task: name, reason: 'threw' });
      expect(String(exited?.['err'])).toMatch(new RegExp(`ServerStoppedError: http server on 127\\.0\\.0\\.1:${port} stopped listening without being asked to`));
      expect(lines).toContainEqual(expect.objectContaining({ msg: 'task stopped', task: 'beside' }));
      expect(lines).toContainEqual(expect.objectContaining({ msg: 'supervisor exiting', exitCode: 1 }));
    } finally {
      await r.close();
    }
  }, 20_000);

  it('fails after it started (a failed accept): the task fails with the error, the port is let go, exit 1', async () => {
    const { lines, log, proc } = harness();
    const { r, port } = await resources();
    try {
      const done = supervise([task(r)], { log, process: proc, shutdownTimeoutMs: 5000 });
      const server = await serverOn(port);
      server.emit('error', Object.assign(new Error('accept ENFILE'), { code: 'ENFILE', errno: -23, syscall: 'accept' }));
      expect(await done).toBe(1);
      expect(await connects(port)).toBe(false);
      const exited = lines.find((l) => l['msg'] === 'task exited');
      expect(exited).toMatchObject({ level: 'error', task: name, reason: 'threw' });
      expect(String(exited?.['err'])).toMatch(/failed after it started listening: Error: accept ENFILE/);
      // Handled by the task, not left to the process's uncaught-exception handler.
      expect(lines.some((l) => l['msg'] === 'uncaught error')).toBe(false);
    } finally {
      await r.close();
    }
  }, 20_000);

  it('asked to stop (SIGTERM): closes and exits 0', async () => {
    const { lines, log, proc } = harness();
    const { r, port } = await resources();
    try {
      const done = supervise([task(r)], { log, process: proc, shutdownTimeoutMs: 5000 });
      await serverOn(port);
      proc.emit('SIGTERM');
      expect(await done).toBe(0);
      expect(await connects(port)).toBe(false);
      expect(lines.some((l) => l['msg'] === 'task exited')).toBe(false);
    } finally {
      await r.close();
    }
  }, 20_000);
});
