// The Worker's backfill consumer (adapters/runtime/worker.ts `queue`) under a setup the operator got wrong: a [vars]
// value the config parser refuses, or a queue binding missing. It threw before settling anything, so the platform
// retried the whole batch with an attempt counted, and after max_retries every message, good repos all, was in the
// dead-letter queue within seconds (review repro: worker-config-error.ts). Now each message waits the mistake out:
// re-sent with a long delay and its attempts so far (no attempt counted), the delivery acked, nothing dead-lettered,
// one error line per batch naming the variable; /ready answers 503 naming it. Driven through the Worker's own exports
// with plain objects of the platform's MessageBatch and producer shapes, as cloudflare-backfill-wait.test.ts does.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import worker from '../../../adapters/runtime/worker.ts';
import type { CloudflareMessage, Envelope, QueueProducerBinding } from '../../../adapters/queue/cloudflare-work-queue.ts';
import { TEST_DATABASE_URL } from '../../helpers/services.ts';

type Call = { id: string; op: 'ack' } | { id: string; op: 'retry'; delaySeconds: number | undefined };
type Sent = { body: Envelope<unknown>; delaySeconds: number | undefined };

function producer(): QueueProducerBinding<Envelope<unknown>> & { sent: Sent[] } {
  const sent: Sent[] = [];
  return {
    sent,
    send: async (body, o) => void sent.push({ body, delaySeconds: o?.delaySeconds }),
    sendBatch: async (messages) => {
      for (const m of messages) sent.push({ body: m.body, delaySeconds: m.delaySeconds });
    },
  };
}

/** A batch of three repos: a first delivery, one re-sent after an outage (prior 2), one at the last attempt before max_retries. */
function batchOf(calls: Call[]): { queue: string; messages: CloudflareMessage[] } {
  const message = (id: string, attempts: number, prior: number): CloudflareMessage => ({
    id,
    body: { v: 1, body: { did: `did:plc:${id.padEnd(24, 'a')}` }, prior },
    attempts,
    ack: () => void calls.push({ id, op: 'ack' }),
    retry: (o?: { delaySeconds?: number }) => void calls.push({ id, op: 'retry', delaySeconds: o?.delaySeconds }),
  });
  return { queue: 'skytide-repo-backfill', messages: [message('m1', 1, 0), message('m2', 1, 2), message('m3', 10, 0)] };
}

const ctx = { waitUntil: (p: Promise<unknown>) => void p.catch(() => {}) };
let lines: string[];

beforeEach(() => {
  lines = [];
  vi.spyOn(console, 'log').mockImplementation((line: unknown) => void lines.push(String(line)));
});
afterEach(() => {
  vi.restoreAllMocks();
});

const errors = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['level'] === 'error');

describe('a Worker queue batch under a wrong setup', () => {
  it('a bad [vars] value: every message re-sent with a long delay, no attempt counted, none dead-lettered', async () => {
    const queue = producer();
    const dlq = producer();
    const calls: Call[] = [];
    const env = { DATABASE_URL: TEST_DATABASE_URL, BACKFILLER_MAX_RETRIES: 'many', BACKFILL_QUEUE: queue, BACKFILL_DLQ: dlq };
    await worker.queue(batchOf(calls), env, ctx);
    // Acked once re-sent: no platform retry, which would count an attempt.
    expect(calls).toEqual([{ id: 'm1', op: 'ack' }, { id: 'm2', op: 'ack' }, { id: 'm3', op: 'ack' }]);
    expect(dlq.sent).toEqual([]);
    // prior = the attempts so far less this delivery: the next delivery is this one again, not one more.
    expect(queue.sent.map((s) => [s.body.prior, s.delaySeconds])).toEqual([[0, 900], [2, 900], [9, 900]]);
    expect(queue.sent.map((s) => s.body.reason)).toEqual([undefined, undefined, undefined]);
    // One error line for the batch, naming the variable.
    expect(errors()).toHaveLength(1);
    expect(errors()[0]).toMatchObject({ msg: 'backfill batch waits for the setup to be fixed', problems: ['BACKFILLER_MAX_RETRIES="many" is not an integer'], messages: 3 });
  });

  it('a missing BACKFILL_DLQ binding: the same (re-sent through BACKFILL_QUEUE)', async () => {
    const queue = producer();
    const calls: Call[] = [];
    await worker.queue(batchOf(calls), { DATABASE_URL: TEST_DATABASE_URL, BACKFILL_QUEUE: queue }, ctx);
    expect(calls.map((c) => c.op)).toEqual(['ack', 'ack', 'ack']);
    expect(queue.sent.map((s) => [s.body.prior, s.delaySeconds])).toEqual([[0, 900], [2, 900], [9, 900]]);
    expect(errors()).toHaveLength(1);
    expect(errors()[0]).toMatchObject({ problems: [expect.stringMatching(/^the BACKFILL_DLQ binding is missing/)] });
  });

  it('no BACKFILL_QUEUE to re-send through: the platform retry with the longest delay, none dead-lettered', async () => {
    const dlq = producer();
    const calls: Call[] = [];
    await worker.queue(batchOf(calls), { DATABASE_URL: TEST_DATABASE_URL, BACKFILL_DLQ: dlq }, ctx);
    expect(calls).toEqual(['m1', 'm2', 'm3'].map((id) => ({ id, op: 'retry', delaySeconds: 43_200 })));
    expect(dlq.sent).toEqual([]);
    expect(errors()).toHaveLength(1);
    expect(errors()[0]).toMatchObject({ problems: [expect.stringMatching(/^the BACKFILL_QUEUE binding is missing/)], attemptCounted: true });
  });

  it('/ready answers 503 naming the problem; /health still answers', async () => {
    const env = { DATABASE_URL: TEST_DATABASE_URL, BACKFILLER_MAX_RETRIES: 'many', BACKFILL_QUEUE: producer(), BACKFILL_DLQ: producer() };
    const ready = await worker.fetch(new Request('http://worker/ready'), env, ctx);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'not_ready', checks: [{ name: 'setup', ok: false, error: 'BACKFILLER_MAX_RETRIES="many" is not an integer' }], degraded: [] });
    expect((await worker.fetch(new Request('http://worker/health'), env, ctx)).status).toBe(200);

    const unbound = await worker.fetch(new Request('http://worker/ready'), { DATABASE_URL: TEST_DATABASE_URL, BACKFILL_QUEUE: producer() }, ctx);
    expect(unbound.status).toBe(503);
    const body = (await unbound.json()) as { checks: { name: string; ok: boolean; error?: string }[] };
    expect(body.checks.find((c) => c.name === 'setup')).toMatchObject({ ok: false, error: expect.stringMatching(/BACKFILL_DLQ binding is missing/) });
    expect(body.checks.find((c) => c.name === 'postgres')).toEqual({ name: 'postgres', ok: true });
  });

  it('a sweep lease shorter than a page\'s deadline plus the time to store it is a setup problem on the Worker alone', async () => {
    // Its cron sweep renews the lease only between pages: a shorter lease let the next tick take the host mid-page
    // and send the same pages again. Node's sweeper renews on a timer, so the same values pass parseConfig.
    const env = { DATABASE_URL: TEST_DATABASE_URL, SWEEP_PAGE_TIMEOUT_MS: '30000', SWEEP_LEASE_TTL_MS: '30000', BACKFILL_QUEUE: producer(), BACKFILL_DLQ: producer() };
    const ready = await worker.fetch(new Request('http://worker/ready'), env, ctx);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ checks: [{ name: 'setup', ok: false, error: expect.stringMatching(/^SWEEP_LEASE_TTL_MS=30000 must be at least SWEEP_PAGE_TIMEOUT_MS \(30000\) plus 10000/) }] });
    const fine = await worker.fetch(new Request('http://worker/ready'), { ...env, SWEEP_LEASE_TTL_MS: '40000' }, ctx);
    expect(fine.status).toBe(200);
  });
});
