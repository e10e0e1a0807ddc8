// The gauges a `skytide run` process sets from its own state, followed through a real process: a relay and a labeler
// (real WebSocket servers on 127.0.0.1) that accept the subscriptions, then go away, and a Redis (behind a TCP proxy)
// that stops answering. /metrics must say what the sockets and /ready say: `skytide_firehose_connected` and
// `skytide_label_subscription_connected` 1 while the connection is open, 0 once it closed; `skytide_ready` 1 while
// /ready answers 200, 0 once it answers 503.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { hostKey } from '../../../adapters/redis/keys.ts';
import { createTestRedis, TEST_DATABASE_URL, TEST_REDIS_URL } from '../../helpers/services.ts';
import { freePort } from '../../helpers/free-port.ts';
import { parsePrometheusText } from '../../helpers/prometheus-text.ts';
import { startTcpProxy, type TcpProxy } from '../../helpers/tcp-proxy.ts';
import { waitFor } from '../../helpers/wait.ts';

const CLI = new URL('../../../long-runners/cli/main.ts', import.meta.url).pathname;

/** A WebSocket server that accepts any subscription and sends nothing; `close` ends every connection and stops listening. */
async function startUpstream(): Promise<{ url: string; connections: () => number; close: () => Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const { port } = wss.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    connections: () => wss.clients.size,
    close: () => new Promise<void>((resolve) => {
      for (const client of wss.clients) client.terminate();
      wss.close(() => resolve());
    }),
  };
}

/** One sample's value from /metrics (undefined when the series is absent). */
async function gauge(port: number, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const families = parsePrometheusText(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
  return families.get(name)?.samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

describe('gauges of a process\'s own state, as the state changes', () => {
  let redis: Awaited<ReturnType<typeof createTestRedis>>;
  let proxy: TcpProxy;
  let relay: Awaited<ReturnType<typeof startUpstream>>;
  let labeler: Awaited<ReturnType<typeof startUpstream>>;
  let child: ChildProcessWithoutNullStreams;
  let output = '';
  let port: number;

  beforeAll(async () => {
    redis = await createTestRedis('state_gauges');
    const target = new URL(TEST_REDIS_URL);
    proxy = await startTcpProxy({ target: { host: target.hostname, port: Number(target.port || 6379) } });
    relay = await startUpstream();
    labeler = await startUpstream();
    port = await freePort();
    child = spawn(process.execPath, [CLI, 'run', '--only', 'firehose,labels'], {
      env: {
        PATH: process.env['PATH'] ?? '', DATABASE_URL: TEST_DATABASE_URL, REDIS_URL: `redis://127.0.0.1:${proxy.port}`, REDIS_KEY_PREFIX: redis.prefix,
        INGESTER_RELAY_HOSTS: relay.url, INGESTER_LABELER_HOSTS: labeler.url, HTTP_PORT: String(port),
      },
    });
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    await waitFor(() => fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false), (ok) => ok, `the process to serve /health\n${output}`, 20_000);
  }, 60_000);

  afterAll(async () => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await relay?.close();
    await labeler?.close();
    await proxy?.close();
    await redis?.cleanup();
  });

  it('connected 1 while each subscription is open, 0 once its upstream closed it', async () => {
    const firehose = { host: hostKey(relay.url) };
    const labels = { host: hostKey(labeler.url) };
    await waitFor(() => relay.connections() + labeler.connections(), (n) => n === 2, `both subscriptions to connect\n${output}`);
    await waitFor(() => gauge(port, 'skytide_firehose_connected', firehose), (v) => v === 1, 'skytide_firehose_connected 1');
    await waitFor(() => gauge(port, 'skytide_label_subscription_connected', labels), (v) => v === 1, 'skytide_label_subscription_connected 1');

    await relay.close();
    await waitFor(() => gauge(port, 'skytide_firehose_connected', firehose), (v) => v === 0, 'skytide_firehose_connected 0 once the relay is gone');
    // The other subscription's socket is still open.
    expect(await gauge(port, 'skytide_label_subscription_connected', labels)).toBe(1);

    await labeler.close();
    await waitFor(() => gauge(port, 'skytide_label_subscription_connected', labels), (v) => v === 0, 'skytide_label_subscription_connected 0 once the labeler is gone');
  });

  it('ready 1 while /ready answers 200, 0 once Redis stops answering and /ready answers 503', async () => {
    expect((await fetch(`http://127.0.0.1:${port}/ready`)).status).toBe(200);
    expect(await gauge(port, 'skytide_ready')).toBe(1);

    await proxy.setMode('refuse');
    const ready = await fetch(`http://127.0.0.1:${port}/ready`);
    expect(ready.status).toBe(503);
    expect(JSON.stringify(await ready.json())).toContain('"name":"redis","ok":false');
    // Each scrape checks readiness first: nobody has to poll /ready for the gauge to be current.
    expect(await gauge(port, 'skytide_ready')).toBe(0);

    await proxy.setMode('open');
    await waitFor(() => gauge(port, 'skytide_ready'), (v) => v === 1, 'skytide_ready 1 once Redis answers again', 20_000);
    expect((await fetch(`http://127.0.0.1:${port}/ready`)).status).toBe(200);
  }, 45_000);
});
