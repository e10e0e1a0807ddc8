// Which Redis errors are an outage the writers wait out (write-refusal.ts), by the messages and shapes Redis and
// ioredis give them. A Cluster whose primary for a slot is gone was not one: ioredis stops retrying after its
// maxRedirections (~1.6 s) with "Too many Cluster redirections", and the subscription ended its task on it.
import { describe, expect, it } from 'vitest';
import { ReplyError } from 'ioredis';
import { writeRefusal } from '../../../adapters/redis/write-refusal.ts';
import { StreamWriteError } from '../../../adapters/redis/stream-writer.ts';

/** As ioredis's Cluster words it (cluster/index.js handleError): the last error's toString after the prefix. */
const tooManyRedirections = (last: Error) => new Error('Too many Cluster redirections. Last error: ' + String(last));
const reply = (message: string): Error => new ReplyError(message) as Error;

describe('writeRefusal', () => {
  it('takes a Redis Cluster out of reach for the slot for an outage', () => {
    for (const err of [
      tooManyRedirections(new Error('Connection is closed.')),
      tooManyRedirections(reply('CLUSTERDOWN The cluster is down')),
      tooManyRedirections(reply('MOVED 3999 127.0.0.1:27102')),
      reply('CLUSTERDOWN The cluster is down'),
      reply('CLUSTERDOWN Hash slot not served'),
      reply('TRYAGAIN Multiple keys request during rehashing of slot'),
      new Error('Connection is closed.'),
    ]) expect(writeRefusal(err), err.message).toBe(err.message);
  });

  it('finds one in the cause chain (a writer wrapping it)', () => {
    const err = new StreamWriteError('command 0 of the batch failed', { cause: tooManyRedirections(new Error('Connection is closed.')) });
    expect(writeRefusal(err)).toBe('Too many Cluster redirections. Last error: Error: Connection is closed.');
  });

  it('still takes the server refusals, and nothing else', () => {
    expect(writeRefusal(reply("OOM command not allowed when used memory > 'maxmemory'."))).toMatch(/^OOM/);
    expect(writeRefusal(reply("READONLY You can't write against a read only replica."))).toMatch(/^READONLY/);
    expect(writeRefusal(reply('LOADING Redis is loading the dataset in memory'))).toMatch(/^LOADING/);
    for (const err of [
      reply('WRONGTYPE Operation against a key holding the wrong kind of value'),
      reply('ERR syntax error'),
      new TypeError('Cannot read properties of undefined'),
      new Error('Connection is closed by a test'),
      new Error('Stream isn\'t writeable and enableOfflineQueue options is false'),
    ]) expect(writeRefusal(err), err.message).toBeUndefined();
  });
});
