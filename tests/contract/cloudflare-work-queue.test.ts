// The work-queue contract against the Cloudflare Queues adapter (adapters/queue/cloudflare-work-queue.ts) under
// workerd, with wrangler dev's local queues (miniflare's queue broker: batches, attempts, retry delays, max_retries
// and the dead-letter queue as Cloudflare documents them). A test Worker (cloudflare-queue/) sends through the adapter
// and consumes through it; each delivered message is held in its `queue` handler until the case settles it over HTTP.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWranglerDev, type WranglerDev } from '../helpers/wrangler-dev.ts';
import { waitFor } from '../helpers/wait.ts';
import { createDeliveryChannel } from './delivery-channel.ts';
import { workQueueContract, type ContractBody, type ContractQueue, type Settlement } from './work-queue.cases.ts';

const CONFIG = fileURLToPath(new URL('./cloudflare-queue/wrangler.toml', import.meta.url));

let control: Server;
let worker: WranglerDev;
let harness: ContractQueue<ContractBody>;
const dead: { body: ContractBody; reason: string }[] = [];
// The `contract-abort` queue's deliveries, in order, and its dead letters (cloudflare-queue/worker.ts).
const abortDeliveries: { body: string; attempts: number }[] = [];
const abortDead: { body: string; reason: string }[] = [];

async function readJson(req: IncomingMessage): Promise<unknown> {
  let text = '';
  for await (const chunk of req) text += String(chunk);
  return JSON.parse(text);
}

beforeAll(async () => {
  const channel = createDeliveryChannel<ContractBody>();
  control = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const body = (await readJson(req)) as Record<string, unknown>;
      if (req.url === '/dead') {
        dead.push(body as { body: ContractBody; reason: string });
        res.end('{}');
        return;
      }
      if (req.url === '/abort-dead') {
        abortDead.push(body as { body: string; reason: string });
        res.end('{}');
        return;
      }
      if (req.url === '/abort') {
        // `throw-always:` throws out of the handler on every delivery, `throw-once:` on its first; the rest is acked.
        const { body: text, attempts } = body as { body: string; attempts: number };
        abortDeliveries.push({ body: text, attempts });
        const fatal = text.startsWith('throw-always:') || (text.startsWith('throw-once:') && attempts === 1);
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ kind: fatal ? 'throw' : 'ack' }));
        return;
      }
      const { id, attempts } = body as { id: string; attempts: number };
      channel.push({
        id,
        body: body.body as ContractBody,
        attempts,
        settle: async (s: Settlement) => {
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify(s));
        },
      });
    })();
  });
  await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
  const { port } = control.address() as { port: number };
  worker = await startWranglerDev({ config: CONFIG, vars: { CONTROL_URL: `http://127.0.0.1:${port}` } });
  harness = {
    maxAttempts: 3,
    send: async (bodies, o) => {
      const res = await fetch(`${worker.base}/send`, { method: 'POST', body: JSON.stringify({ bodies, ...(o?.delayMs === undefined ? {} : { delayMs: o.delayMs }) }) });
      if (res.status !== 204) throw new Error(`send answered ${res.status}: ${await res.text()}\n${worker.output()}`);
    },
    next: (waitMs) => channel.next(waitMs),
    deadLetters: async () => dead.slice(),
    close: async () => {},
  };
}, 120_000);

afterAll(async () => {
  await worker?.stop();
  control?.closeAllConnections();
  await new Promise((resolve) => control?.close(resolve));
});

// Cloudflare delays are whole seconds; the local broker dispatches one batch at a time per queue.
workQueueContract('Cloudflare Queues under workerd', () => harness, { deliveryMs: 15_000, quietMs: 2_000, delayMs: 2_000 });

// After the contract's cases (which run first, in file order): every dead letter the Worker reported came through the
// adapter's own dead-letter path, with the reason the case gave (Cloudflare's DLQ alone keeps no reason).
it('reports each dead letter with its reason', () => {
  expect(dead.length).toBeGreaterThan(0);
  for (const letter of dead) expect(letter.reason).toMatch(/\S/);
});

// A handler that throws partway through its batch (the nearest thing to an invocation the platform kills on a
// repo that workerd lets us run: it enforces no CPU or memory limit locally). Messages settled before the throw stay
// settled; the rest come back with an attempt counted. wrangler dev's broker retries the whole batch of an invocation
// that fails, explicit acks included (Cloudflare documents that it keeps them), so the adapter must not fail it.
describe('Cloudflare Queues under workerd: a handler that throws on a message of its batch', () => {
  const sendAbort = async (bodies: string[]) => {
    const res = await fetch(`${worker.base}/send-abort`, { method: 'POST', body: JSON.stringify({ bodies }) });
    if (res.status !== 204) throw new Error(`send answered ${res.status}: ${await res.text()}\n${worker.output()}`);
  };
  const deliveriesOf = (prefix: string) => abortDeliveries.filter((d) => d.body.endsWith(prefix));
  const quiet = () => new Promise((resolve) => setTimeout(resolve, 2_000));

  it('the message acked before the throw is not delivered again; the one that threw is retried, then dead-lettered with its reason', async () => {
    await sendAbort(['ack:k1', 'throw-always:k1']);
    await waitFor(() => abortDead.filter((d) => d.body.endsWith(':k1')), (l) => l.length > 0, `a dead letter\n${worker.output()}`, 30_000);
    await quiet();
    expect(deliveriesOf(':k1')).toEqual([
      { body: 'ack:k1', attempts: 1 },
      { body: 'throw-always:k1', attempts: 1 },
      { body: 'throw-always:k1', attempts: 2 },
      { body: 'throw-always:k1', attempts: 3 },
    ]);
    // The adapter's own letter at MAX_ATTEMPTS (3), not Cloudflare's after max_retries (5), which carries no reason.
    expect(abortDead.filter((d) => d.body.endsWith(':k1'))).toEqual([{ body: 'throw-always:k1', reason: 'handler_error' }]);
  });

  it('a message after the one that threw was never tried, yet comes back with an attempt counted (the cost of batching a repo with others)', async () => {
    await sendAbort(['ack:k2', 'throw-once:k2', 'ack-after:k2']);
    await waitFor(() => deliveriesOf(':k2'), (l) => l.some((d) => d.body === 'ack-after:k2'), `ack-after delivered\n${worker.output()}`, 30_000);
    await quiet();
    expect(deliveriesOf(':k2')).toEqual([
      { body: 'ack:k2', attempts: 1 },
      { body: 'throw-once:k2', attempts: 1 },
      { body: 'throw-once:k2', attempts: 2 },
      { body: 'ack-after:k2', attempts: 2 },
    ]);
    expect(abortDead.filter((d) => d.body.endsWith(':k2'))).toEqual([]);
  });
});
