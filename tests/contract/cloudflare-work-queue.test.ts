// The work-queue contract against the Cloudflare Queues adapter (adapters/queue/cloudflare-work-queue.ts) under
// workerd, with wrangler dev's local queues (miniflare's queue broker: batches, attempts, retry delays, max_retries
// and the dead-letter queue as Cloudflare documents them). A test Worker (cloudflare-queue/) sends through the adapter
// and consumes through it; each delivered message is held in its `queue` handler until the case settles it over HTTP.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startWranglerDev, type WranglerDev } from '../helpers/wrangler-dev.ts';
import { createDeliveryChannel } from './delivery-channel.ts';
import { workQueueContract, type ContractBody, type ContractQueue, type Settlement } from './work-queue.cases.ts';

const CONFIG = fileURLToPath(new URL('./cloudflare-queue/wrangler.toml', import.meta.url));

let control: Server;
let worker: WranglerDev;
let harness: ContractQueue<ContractBody>;
const dead: { body: ContractBody; reason: string }[] = [];

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
