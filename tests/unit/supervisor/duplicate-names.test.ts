// The supervisor knows tasks by name (their beats, the running set its shutdown report names). Two of one name (one
// relay listed twice) hid a hung task behind its twin's beats and one that did not stop behind its twin's end.
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { supervise, type ProcessLike, type Task } from '../../../long-runners/supervisor.ts';
import { createLogger } from '../../../adapters/observability/logger.ts';
import { InvariantError } from '../../../functions/errors.ts';

describe('supervise: task names are unique', () => {
  it('refuses tasks sharing a name before starting any, and listens to no signal', async () => {
    const log = createLogger({ level: 'debug', component: 'test', write: () => {} });
    const proc = new EventEmitter() as EventEmitter & ProcessLike;
    const started: string[] = [];
    const task = (name: string): Task => ({ name, run: async () => void started.push(name) });
    const tasks = [task('firehose:relay.example'), task('index:firehose_live:0'), task('firehose:relay.example'), task('http')];
    const run = supervise(tasks, { log, process: proc, stuckAfterMs: 60_000 });
    await expect(run).rejects.toBeInstanceOf(InvariantError);
    await expect(run).rejects.toThrow('supervise: task names must be unique; given more than once: firehose:relay.example');
    expect(started).toEqual([]);
    expect(proc.eventNames()).toEqual([]);
  });
});
