// The firehose adapter whose stream key someone made with another type (a string here), against a real relay on
// 127.0.0.1 and real Redis: the batch script refuses the batch whole (once-batch-script.ts checks every key's type
// first), so the cursor is not raised past events never written; the write failure is counted by host as
// `stream_write_failed` and ends the task with an error naming the key.
import { expect, it } from 'vitest';
import { hostKey } from '../../../adapters/redis/keys.ts';
import { StreamWriteError } from '../../../adapters/redis/stream-writer.ts';
import { useFirehoseHarness } from '../../helpers/firehose-harness.ts';
import { identityFrame } from '../../helpers/frames.ts';

const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';

const h = useFirehoseHarness('firehose_wrong_type');

it('a firehose_live that is a string: nothing written, the cursor not raised, the failure counted', async () => {
  await h.redis.set(h.keys.stream('firehose_live'), 'made by hand');
  for (let seq = 1; seq <= 3; seq++) h.relay.append(seq, identityFrame(seq, DID));
  const run = h.start();
  const err = await run.failure();
  expect(await h.cursor()).toBeNull();
  expect(await h.redis.get(h.keys.stream('firehose_live'))).toBe('made by hand');
  expect(err).toBeInstanceOf(StreamWriteError);
  expect((err as Error).message).toContain(`WRONGTYPE step 1 needs ${h.keys.stream('firehose_live')} to be a stream but it is a string`);
  const text = await run.metrics.registry.metrics();
  expect(text).toContain(`skytide_firehose_errors_total{host="${hostKey(h.relay.host)}",reason="stream_write_failed"} 1`);
}, 20_000);
