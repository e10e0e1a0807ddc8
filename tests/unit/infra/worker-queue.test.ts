// Static checks of the Workers deploy's backfill queue (wrangler.toml, read by wrangler's own config reader, as
// `wrangler deploy` reads it): how much one invocation may cost in subrequests, and what an invocation the platform
// kills costs the other messages of its batch. Neither limit is enforced by workerd locally (wrangler dev checks that
// [limits] is well-formed and nothing else), so the arithmetic is checked here, from the constants the Worker's code
// path uses; README "Workers" shows it.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { unstable_readConfig } from 'wrangler';
import { DEFAULT_PDS_RETRY } from '../../../functions/backfill-repo/fetch-car.ts';
import { MAX_IDENTITY_REDIRECTS } from '../../../adapters/identity/follow-redirects.ts';
import { VARS } from '../../../adapters/config/vars.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** As much of wrangler's resolved config as is checked here. */
interface QueueConfig {
  queues: {
    producers?: { queue: string; binding: string }[];
    consumers?: { queue: string; max_batch_size?: number; max_retries?: number; dead_letter_queue?: string }[];
  };
  limits?: { subrequests?: number };
}
const config: QueueConfig = unstable_readConfig({ config: path.join(ROOT, 'wrangler.toml') });
const consumer = config.queues.consumers?.find((c) => c.queue === 'skytide-repo-backfill');

/** Workers Paid's default subrequests per invocation (developers.cloudflare.com/workers/platform/limits). */
const PLAN_SUBREQUESTS = 10_000;
/** The limit before Cloudflare raised it; still met, in case a plan or an account keeps it. */
const OLD_PLAN_SUBREQUESTS = 1_000;

/**
 * The most subrequests one repo_backfill message costs on the Worker (adapters/runtime/worker.ts `backfillPorts`;
 * no cache there: every resolve is a fetch), each term from functions/backfill-repo/handler.ts `syncRepo`.
 */
function worstSubrequestsPerRepo(): number {
  const document = 1 + MAX_IDENTITY_REDIRECTS; // a did:web's did.json through its redirects (did:plc: 1)
  const getRepo = 1 + DEFAULT_PDS_RETRY.retries; // the download's tries within one delivery
  const handle = 1 + (1 + MAX_IDENTITY_REDIRECTS) + 2; // DoH TXT, the well-known through its redirects, DoH A + AAAA when it failed
  // The document, getRepo, again both after "not found" (the account may have moved), the document once more after
  // a bad signature (a rotated key), then the handle.
  const look = document + getRepo + document + getRepo + document + handle;
  const looks = 2; // a repo whose deletion it undid is looked at twice
  const settlement = 1; // a dead letter or an outage re-send to a queue binding
  const postgres = 1; // its connection (counted, in case a socket's connect is a subrequest)
  return looks * look + settlement + postgres;
}

describe('wrangler.toml: the backfill queue consumer', () => {
  it('exists, with its dead-letter queue bound as the producer the consumer letters through', () => {
    expect(consumer).toBeDefined();
    const dlq = config.queues.producers?.find((p) => p.binding === 'BACKFILL_DLQ');
    expect(consumer?.dead_letter_queue).toBe(dlq?.queue);
    expect(consumer?.dead_letter_queue).toBe(`${consumer?.queue}-dlq`);
  });

  it('takes one repo per invocation: a kill by the platform (CPU, memory, wall clock) costs no other repo an attempt', () => {
    expect(consumer?.max_batch_size).toBe(1);
  });

  it('cannot pass the subrequests of an invocation, whatever its repos do', () => {
    const perRepo = worstSubrequestsPerRepo();
    expect(perRepo).toBe(80); // README "Workers" gives this figure
    const limit = config.limits?.subrequests ?? PLAN_SUBREQUESTS;
    expect((consumer?.max_batch_size ?? 10) * perRepo).toBeLessThanOrEqual(Math.min(limit, OLD_PLAN_SUBREQUESTS));
  });

  it('leaves max_retries as the backstop: the adapter dead-letters a failing repo, with its reason, first', () => {
    // The adapter letters a retry at BACKFILLER_MAX_RETRIES deliveries; Cloudflare after max_retries + 1.
    const maxAttempts = Number(VARS.find((v) => v.name === 'BACKFILLER_MAX_RETRIES')?.default);
    expect(maxAttempts).toBeGreaterThan(0);
    expect((consumer?.max_retries ?? 3) + 1).toBeGreaterThan(maxAttempts);
  });
});
