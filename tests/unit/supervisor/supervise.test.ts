import { EventEmitter } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import { supervise, type ProcessLike, type Task } from '../../../long-runners/supervisor.ts';
import { createLogger } from '../../../adapters/observability/logger.ts';
import { sleep, SLEEP_BEAT_MS } from '../../../long-runners/sleep.ts';

function harness() {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level: 'debug', component: 'test', write: (l) => lines.push(JSON.parse(l)) });
  const proc = new EventEmitter() as EventEmitter & ProcessLike;
  return { lines, log, proc };
}

/** A task that runs until aborted, then spends a moment "flushing" and records that it did. */
function waitingTask(name: string, flushed: string[]): Task {
  return {
    name,
    run: (signal) =>
      new Promise<void>((resolve) => {
        signal.addEventListener('abort', () => {
          flushed.push(name);
          resolve();
        });
      }),
  };
}

describe('supervise: a long-running task never exits silently', () => {
  it('logs the task that returned on its own, stops the others, and exits 1', async () => {
    const { lines, log, proc } = harness();
    const flushed: string[] = [];
    const code = await supervise([waitingTask('index', flushed), { name: 'firehose:relay', run: async () => {} }], { log, process: proc });
    expect(code).toBe(1);
    expect(flushed).toEqual(['index']);
    expect(lines).toContainEqual(
      expect.objectContaining({ level: 'error', msg: 'task exited', task: 'firehose:relay', reason: 'returned without being asked to stop' }),
    );
  });

  it('logs the task that threw, with its cause, and exits 1', async () => {
    const { lines, log, proc } = harness();
    const code = await supervise(
      [{ name: 'http', run: async () => { throw new Error('listen EADDRINUSE', { cause: new Error('port 3000') }); } }],
      { log, process: proc },
    );
    expect(code).toBe(1);
    const exit = lines.find((l) => l['msg'] === 'task exited');
    expect(exit).toMatchObject({ task: 'http', reason: 'threw' });
    expect(String(exit?.['err'])).toContain('listen EADDRINUSE; cause: Error: port 3000');
  });

  it('stops every task on SIGTERM, lets them flush, and exits 0', async () => {
    const { lines, log, proc } = harness();
    const flushed: string[] = [];
    const done = supervise([waitingTask('a', flushed), waitingTask('b', flushed)], { log, process: proc });
    await new Promise((r) => setImmediate(r));
    proc.emit('SIGTERM');
    expect(await done).toBe(0);
    expect(flushed.sort()).toEqual(['a', 'b']);
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'shutdown requested', signal: 'SIGTERM' }));
    expect(proc.listenerCount('SIGTERM')).toBe(0);
  });

  it('exits at once on a second signal while a task is still stopping, naming it', async () => {
    const { lines, log, proc } = harness();
    const exits: number[] = [];
    proc.exit = (code) => void exits.push(code);
    const stuck: Task = { name: 'index:firehose_live:0', run: () => new Promise<void>(() => {}) };
    const done = supervise([stuck, waitingTask('http', [])], { log, process: proc, shutdownTimeoutMs: 1000 });
    await new Promise((r) => setImmediate(r));
    proc.emit('SIGTERM');
    await new Promise((r) => setImmediate(r));
    expect(exits).toEqual([]);
    proc.emit('SIGTERM');
    expect(exits).toEqual([143]);
    expect(lines).toContainEqual(expect.objectContaining({ level: 'error', msg: 'second signal, exiting now', signal: 'SIGTERM', tasks: ['index:firehose_live:0'] }));
    proc.emit('SIGINT');
    expect(exits).toEqual([143, 130]);
    // (Here `exit` returned, as the real one does not: the stop goes on to its timeout.)
    expect(await done).toBe(1);
  });

  it('names a task that ignores the stop signal past the timeout and exits 1', async () => {
    const { lines, log, proc } = harness();
    const stuck: Task = { name: 'stuck', run: () => new Promise<void>(() => {}) };
    const done = supervise([stuck], { log, process: proc, shutdownTimeoutMs: 50 });
    await new Promise((r) => setImmediate(r));
    proc.emit('SIGINT');
    expect(await done).toBe(1);
    expect(lines).toContainEqual(expect.objectContaining({ level: 'error', msg: 'tasks did not stop in time', tasks: ['stuck'] }));
  });

  it('treats an uncaught error as a failure of the whole process', async () => {
    const { lines, log, proc } = harness();
    const flushed: string[] = [];
    const done = supervise([waitingTask('a', flushed)], { log, process: proc });
    await new Promise((r) => setImmediate(r));
    proc.emit('unhandledRejection', new Error('boom'));
    expect(await done).toBe(1);
    expect(flushed).toEqual(['a']);
    expect(lines).toContainEqual(expect.objectContaining({ level: 'error', msg: 'uncaught error', err: 'Error: boom' }));
  });
});

describe('supervise: the watchdog (SKYTIDE_TASK_STUCK_MS)', () => {
  const silent = (name: string): Task => waitingTask(name, []);

  it('leaves alone a task that is not watched (a server: requests drive it), however long it is silent', async () => {
    const { lines, log, proc } = harness();
    const done = supervise([{ ...silent('http'), watched: false }], { log, process: proc, stuckAfterMs: 50 });
    await new Promise((r) => setTimeout(r, 200));
    proc.emit('SIGTERM');
    expect(await done).toBe(0);
    expect(lines.some((l) => l['msg'] === 'task stuck')).toBe(false);
  });

  it('counts no silence while the excuse holds (Redis reconnecting: every command waits in the client)', async () => {
    const { lines, log, proc } = harness();
    let excuse: string | undefined = 'redis connection reconnecting';
    const done = supervise([silent('index')], { log, process: proc, stuckAfterMs: 100, shutdownTimeoutMs: 50, excuse: () => excuse });
    await new Promise((r) => setTimeout(r, 300));
    expect(lines.some((l) => l['msg'] === 'task stuck')).toBe(false);
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'task watchdog paused', why: 'redis connection reconnecting' }));
    // Back: the silence counts from here, and a task that still does not beat is stuck.
    excuse = undefined;
    expect(await done).toBe(1);
    expect(lines).toContainEqual(expect.objectContaining({ level: 'error', msg: 'task stuck', task: 'index' }));
  });

  it('is off at 0', async () => {
    const { lines, log, proc } = harness();
    const done = supervise([silent('index')], { log, process: proc, stuckAfterMs: 0 });
    await new Promise((r) => setTimeout(r, 100));
    proc.emit('SIGTERM');
    expect(await done).toBe(0);
    expect(lines.some((l) => l['msg'] === 'task stuck')).toBe(false);
  });
});

describe('sleep with a beat: a wait of any length is reported as one', () => {
  it('beats as it starts and every SLEEP_BEAT_MS, and not after a stop', async () => {
    vi.useFakeTimers();
    try {
      let beats = 0;
      const controller = new AbortController();
      const slept = sleep(25_000, controller.signal, () => beats++);
      expect(beats).toBe(1);
      await vi.advanceTimersByTimeAsync(SLEEP_BEAT_MS);
      expect(beats).toBe(2);
      await vi.advanceTimersByTimeAsync(SLEEP_BEAT_MS);
      expect(beats).toBe(3);
      await vi.advanceTimersByTimeAsync(5_000);
      await slept;
      const forever = sleep(Number.POSITIVE_INFINITY, controller.signal, () => beats++);
      await vi.advanceTimersByTimeAsync(3 * SLEEP_BEAT_MS);
      expect(beats).toBe(7);
      controller.abort();
      await forever;
      await vi.advanceTimersByTimeAsync(3 * SLEEP_BEAT_MS);
      expect(beats).toBe(7);
    } finally {
      vi.useRealTimers();
    }
  });
});
