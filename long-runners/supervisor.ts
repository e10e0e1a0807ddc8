// Runs long-lived tasks and never lets one end silently. A task that returns or throws while nothing asked it to stop
// is logged with its name and cause, the others are stopped (flushing batches and cursors), and the exit code is 1.
// SIGTERM / SIGINT stop every task through its AbortSignal; a clean stop exits 0. A task that ignores the signal past
// the shutdown timeout is named in the log and the exit code is 1. A second signal during the stop exits at once
// (130 for SIGINT, 143 for SIGTERM), naming the tasks still stopping: as PID 1 in a container nothing else would.
// A task that hangs (an await that never settles: a socket that never answers, a lock never released) neither returns
// nor throws: with `stuckAfterMs`, each task beats (`beat`) whenever it completes a unit of work or is legitimately
// idle or waiting (a read that returned empty, a pause for backpressure, a backoff, a cron wait), and one silent for
// that long is stuck: logged with its name and silence, reported (`onStuck`: counted, readiness failed), and handled
// as a task that threw (the others stopped, exit 1), so the orchestrator restarts the process.
import type { Log } from '../functions/ports.ts';
import { describeError, InvariantError } from '../functions/errors.ts';

/** Says the task is alive and moving: a unit of work done, or a legitimate wait going on. Cheap: call it freely. */
export type Beat = () => void;

export interface Task {
  name: string;
  /**
   * Runs until `signal` aborts, then flushes and resolves. Returning or throwing earlier is a failure. The supervisor
   * always passes `beat` (absent only where a test runs the task alone).
   */
  run(signal: AbortSignal, beat?: Beat): Promise<void>;
  /**
   * False for a task with no loop of its own to beat (a server that only answers requests): the watchdog leaves it
   * alone. Every other task must beat.
   */
  watched?: boolean;
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
  /** A watched task silent this long is stuck (SKYTIDE_TASK_STUCK_MS); 0 or absent: no watchdog. */
  stuckAfterMs?: number;
  /** Called once for the stuck task before everything stops: count it, fail readiness. */
  onStuck?: (task: string, silentMs: number) => void;
  /**
   * A reason every task may be waiting without beating (Redis reconnecting: each command waits for it inside the
   * client), or undefined. While it holds, silence is not counted: an outage is waited out, not a hang.
   */
  excuse?: () => string | undefined;
}

export async function supervise(tasks: readonly Task[], options: SupervisorOptions): Promise<number> {
  // Tasks are known by name (their beats, the running set the shutdown report names): two of one name would hide a
  // hung one behind its twin's beats, and one that does not stop behind its twin's end. Refused before any starts.
  const names = tasks.map((t) => t.name);
  const twice = [...new Set(names.filter((name, i) => names.indexOf(name) !== i))];
  if (twice.length > 0) throw new InvariantError(`supervise: task names must be unique; given more than once: ${twice.join(', ')}`);
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
  const lastBeat = new Map(tasks.filter((t) => t.watched !== false).map((t) => [t.name, Date.now()]));
  const watchdog = watch(lastBeat, pending, options, log, (task) => stop(`task ${task} stuck`, true));
  const runs = tasks.map(async (task) => {
    const beat: Beat = () => void (lastBeat.has(task.name) && lastBeat.set(task.name, Date.now()));
    try {
      await task.run(controller.signal, beat);
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
  clearInterval(watchdog);
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

/** How often, at most, the watchdog looks at the beats (a tenth of the limit, so a hang is found within 10% of it). */
const WATCH_EVERY_MAX_MS = 30_000;

/**
 * Every tenth of `stuckAfterMs`, finds the first watched task still running that has not beaten for that long, logs
 * it, reports it and calls `stuck` once. While `excuse` names a reason, the silence so far is forgiven.
 */
function watch(
  lastBeat: Map<string, number>, running: ReadonlySet<string>, options: SupervisorOptions, log: Log, stuck: (task: string) => void,
): ReturnType<typeof setInterval> | undefined {
  const limit = options.stuckAfterMs ?? 0;
  if (limit <= 0 || lastBeat.size === 0) return undefined;
  let excused: string | undefined;
  const timer = setInterval(() => {
    const now = Date.now();
    const excuse = options.excuse?.();
    if (excuse !== excused) log.info(excuse === undefined ? 'task watchdog resumes' : 'task watchdog paused', { why: excuse ?? excused });
    excused = excuse;
    if (excuse !== undefined) {
      for (const task of lastBeat.keys()) lastBeat.set(task, now);
      return;
    }
    for (const [task, at] of lastBeat) {
      if (!running.has(task) || now - at < limit) continue;
      clearInterval(timer);
      log.error('task stuck', { task, silentMs: now - at, stuckAfterMs: limit, reason: 'no progress reported' });
      options.onStuck?.(task, now - at);
      stuck(task);
      return;
    }
  }, Math.max(1, Math.min(WATCH_EVERY_MAX_MS, Math.floor(limit / 10))));
  // Never the reason the process stays up.
  timer.unref();
  return timer;
}
