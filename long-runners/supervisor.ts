// Runs long-lived tasks and never lets one end silently. A task that returns or throws while nothing asked it to stop
// is logged with its name and cause, the others are stopped (flushing batches and cursors), and the exit code is 1.
// SIGTERM / SIGINT stop every task through its AbortSignal; a clean stop exits 0. A task that ignores the signal past
// the shutdown timeout is named in the log and the exit code is 1. A second signal during the stop exits at once
// (130 for SIGINT, 143 for SIGTERM), naming the tasks still stopping: as PID 1 in a container nothing else would.
import type { Log } from '../functions/ports.ts';
import { describeError } from '../functions/errors.ts';

export interface Task {
  name: string;
  /** Runs until `signal` aborts, then flushes and resolves. Returning or throwing earlier is a failure. */
  run(signal: AbortSignal): Promise<void>;
}

/** The parts of `process` the supervisor uses, injectable so tests can drive it. */
export interface ProcessLike {
  on(event: 'SIGTERM' | 'SIGINT', listener: () => void): unknown;
  on(event: 'uncaughtException' | 'unhandledRejection', listener: (err: unknown) => void): unknown;
  off(event: string, listener: (...args: never[]) => void): unknown;
  exit(code: number): void;
}

export interface SupervisorOptions {
  log: Log;
  shutdownTimeoutMs?: number;
  process?: ProcessLike;
}

export async function supervise(tasks: readonly Task[], options: SupervisorOptions): Promise<number> {
  const log = options.log.child('supervisor');
  const proc = options.process ?? (process as unknown as ProcessLike);
  const timeoutMs = options.shutdownTimeoutMs ?? 25_000;
  const controller = new AbortController();
  let exitCode = 0;
  let stopping = false;
  const pending = new Set(tasks.map((t) => t.name));

  const stop = (why: string, failed: boolean) => {
    if (failed) exitCode = 1;
    if (stopping) return;
    stopping = true;
    log.info('stopping all tasks', { why });
    controller.abort(new Error(why));
  };

  let signalled = false;
  const onSignal = (signal: 'SIGTERM' | 'SIGINT') => () => {
    if (signalled) {
      log.error('second signal, exiting now', { signal, tasks: [...pending] });
      proc.exit(signal === 'SIGINT' ? 130 : 143);
      return;
    }
    signalled = true;
    log.info('shutdown requested', { signal });
    stop(signal, false);
  };
  const onTerm = onSignal('SIGTERM');
  const onInt = onSignal('SIGINT');
  const onCrash = (err: unknown) => {
    log.error('uncaught error', { err: describeError(err) });
    stop('uncaught error', true);
  };
  proc.on('SIGTERM', onTerm);
  proc.on('SIGINT', onInt);
  proc.on('uncaughtException', onCrash);
  proc.on('unhandledRejection', onCrash);

  log.info('starting tasks', { tasks: tasks.map((t) => t.name) });
  const runs = tasks.map(async (task) => {
    try {
      await task.run(controller.signal);
      if (!stopping) {
        log.error('task exited', { task: task.name, reason: 'returned without being asked to stop' });
        stop(`task ${task.name} exited`, true);
      } else {
        log.info('task stopped', { task: task.name });
      }
    } catch (err) {
      log.error('task exited', { task: task.name, reason: 'threw', err: describeError(err) });
      stop(`task ${task.name} failed`, true);
    } finally {
      pending.delete(task.name);
    }
  });

  const allDone = Promise.all(runs);
  await Promise.race([allDone, new Promise<void>((resolve) => controller.signal.addEventListener('abort', () => resolve(), { once: true }))]);
  if (stopping) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = await Promise.race([
      allDone.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs))),
    ]);
    if (timer !== undefined) clearTimeout(timer);
    if (timedOut) {
      log.error('tasks did not stop in time', { tasks: [...pending], timeoutMs });
      exitCode = 1;
    }
  }
  proc.off('SIGTERM', onTerm);
  proc.off('SIGINT', onInt);
  proc.off('uncaughtException', onCrash as (...args: never[]) => void);
  proc.off('unhandledRejection', onCrash as (...args: never[]) => void);
  log.info('supervisor exiting', { exitCode });
  return exitCode;
}
