// Real `skytide run --only <kind>` processes (node long-runners/cli/main.ts), each with its stdout and stderr in a log
// file of its own, that a test can SIGKILL, restart and stop. It acts as an orchestrator would: a process that exits
// without being told to is recorded as an unexpected exit and started again after a pause. Every exit is kept, so
// the test can check afterwards that each one a process could log was logged with its cause.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';

export type ProcessKind = 'firehose' | 'index' | 'backfill' | 'http';

export interface PoolProcess {
  id: string;
  kind: ProcessKind;
  pid: number;
  logFile: string;
  startedAt: number;
  exitedAt?: number;
  code?: number | null;
  signal?: NodeJS.Signals | null;
  /** What the harness did to it, if anything: it was SIGKILLed, or asked to stop with SIGTERM. */
  fate?: 'sigkill' | 'sigterm';
}

export interface ExitAudit {
  id: string;
  kind: ProcessKind;
  how: 'sigkill' | 'sigterm' | 'unexpected';
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The process's own account of its exit (`supervisor exiting`, `command failed`), with the causes it gave. */
  logged: boolean;
  cause: string;
  /** SIGKILLed processes cannot log; every other exit must be logged with its cause. */
  explained: boolean;
}

export interface ProcessPoolOptions {
  /** long-runners/cli/main.ts */
  cli: string;
  env: Record<string, string>;
  /** Extra variables per process (an HTTP port, ...). */
  envFor?: (kind: ProcessKind) => Record<string, string>;
  logDir: string;
  /** Pause before an unexpectedly exited process is started again; undefined: not restarted. */
  restartAfterMs?: number;
}

interface Live {
  proc: PoolProcess;
  child: ChildProcess;
  exited: Promise<void>;
}

type LogLine = Record<string, unknown> & { msg?: string };

function readLog(file: string): { json: LogLine[]; text: string[] } {
  let raw = '';
  try {
    raw = readFileSync(file, 'utf8');
  } catch {
    return { json: [], text: [] };
  }
  const text = raw.split('\n').filter((l) => l.length > 0);
  const json: LogLine[] = [];
  for (const line of text) {
    try {
      const v: unknown = JSON.parse(line);
      if (v !== null && typeof v === 'object') json.push(v as LogLine);
    } catch {
      // Not ours (a Node warning on stderr): kept in `text` for the last-lines dump.
    }
  }
  return { json, text };
}

/** The process's own account of why it exited, from its log: the supervisor's last words and the causes before them. */
export function exitAccount(file: string): { logged: boolean; cause: string } {
  const { json, text } = readLog(file);
  const final = json.filter((l) => l.msg === 'supervisor exiting' || l.msg === 'command failed');
  const causes = json
    .filter((l) => ['task exited', 'uncaught error', 'tasks did not stop in time', 'shutdown requested', 'nothing to run', 'command failed'].includes(l.msg ?? ''))
    .map((l) => {
      const { level: _l, time: _t, component: _c, msg, ...fields } = l;
      return `${msg} ${JSON.stringify(fields)}`;
    });
  if (final.length > 0) return { logged: true, cause: causes.join('; ') || `${final.at(-1)?.msg} ${JSON.stringify(final.at(-1))}` };
  // `skytide` refuses bad configuration with a plain line on stderr and exit code 2.
  const last = text.at(-1);
  return { logged: false, cause: last === undefined ? '(empty log)' : `last line: ${last}` };
}

// A test process that dies must not leave skytide processes behind: whatever is still running is killed at exit.
const everyLive = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of everyLive) c.kill('SIGKILL');
});

export function createProcessPool(options: ProcessPoolOptions) {
  const live = new Map<string, Live>();
  const history: PoolProcess[] = [];
  const counters = new Map<ProcessKind, number>();
  const pendingRestarts = new Set<ReturnType<typeof setTimeout>>();
  let closing = false;

  const start = (kind: ProcessKind): PoolProcess => {
    const n = (counters.get(kind) ?? 0) + 1;
    counters.set(kind, n);
    const id = `${kind}-${String(n).padStart(3, '0')}`;
    const logFile = path.join(options.logDir, `${id}.log`);
    const fd = openSync(logFile, 'a');
    const child = spawn(process.execPath, [options.cli, 'run', '--only', kind], {
      // Every `run` process serves /health on HTTP_PORT: any free port unless the test names one.
      env: { HTTP_PORT: '0', ...options.env, ...(options.envFor?.(kind) ?? {}) },
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    everyLive.add(child);
    child.once('exit', () => everyLive.delete(child));
    const proc: PoolProcess = { id, kind, pid: child.pid ?? -1, logFile, startedAt: Date.now() };
    history.push(proc);
    const exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        proc.exitedAt = Date.now();
        proc.code = code;
        proc.signal = signal;
        live.delete(id);
        resolve();
        if (proc.fate === undefined && !closing && options.restartAfterMs !== undefined) {
          const timer = setTimeout(() => {
            pendingRestarts.delete(timer);
            if (!closing) start(kind);
          }, options.restartAfterMs);
          pendingRestarts.add(timer);
        }
      });
    });
    live.set(id, { proc, child, exited });
    return proc;
  };

  const running = (kind?: ProcessKind): PoolProcess[] =>
    [...live.values()].map((l) => l.proc).filter((p) => kind === undefined || p.kind === kind);

  /** SIGKILL, counted as the harness's kill once the exit confirms the signal. */
  const sigkill = async (id: string): Promise<PoolProcess | undefined> => {
    const l = live.get(id);
    if (l === undefined) return undefined;
    l.proc.fate = 'sigkill';
    l.child.kill('SIGKILL');
    await l.exited;
    return l.proc;
  };

  /** SIGTERM every running process (a clean stop), SIGKILL what is still there after `timeoutMs`. */
  const stopAll = async (timeoutMs: number): Promise<void> => {
    closing = true;
    for (const t of pendingRestarts) clearTimeout(t);
    pendingRestarts.clear();
    const all = [...live.values()];
    for (const l of all) {
      l.proc.fate = 'sigterm';
      l.child.kill('SIGTERM');
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(all.map((l) => l.exited)),
      new Promise<void>((r) => (timer = setTimeout(r, timeoutMs))),
    ]);
    clearTimeout(timer);
    for (const l of [...live.values()]) {
      l.child.kill('SIGKILL');
      await l.exited;
    }
  };

  return {
    start,
    running,
    sigkill,
    stopAll,
    history: (): readonly PoolProcess[] => history,
    /** Kills the harness made and the exits confirmed (signal SIGKILL), per kind. */
    kills(): Record<string, { made: number; confirmed: number }> {
      const out: Record<string, { made: number; confirmed: number }> = {};
      for (const p of history) {
        if (p.fate !== 'sigkill') continue;
        const k = (out[p.kind] ??= { made: 0, confirmed: 0 });
        k.made++;
        if (p.signal === 'SIGKILL') k.confirmed++;
      }
      return out;
    },
    auditExits(): ExitAudit[] {
      return history
        .filter((p) => p.exitedAt !== undefined)
        .map((p) => {
          const how = p.fate ?? 'unexpected';
          if (how === 'sigkill' && p.signal === 'SIGKILL') {
            return { id: p.id, kind: p.kind, how, code: p.code ?? null, signal: p.signal, logged: false, cause: 'SIGKILL by the harness', explained: true };
          }
          const { logged, cause } = exitAccount(p.logFile);
          return { id: p.id, kind: p.kind, how, code: p.code ?? null, signal: p.signal ?? null, logged, cause, explained: logged };
        });
    },
    lastLines(id: string, n: number): string[] {
      const p = history.find((h) => h.id === id);
      return p === undefined ? [] : readLog(p.logFile).text.slice(-n);
    },
    /** Lines of every process's log that are not JSON (stderr noise), counted and grouped by their text. */
    nonJsonLines(): { count: number; top: [string, number][] } {
      const seen = new Map<string, number>();
      let count = 0;
      for (const p of history) {
        for (const line of readLog(p.logFile).text) {
          if (line.startsWith('{')) continue;
          count++;
          const key = line.trim().slice(0, 100);
          seen.set(key, (seen.get(key) ?? 0) + 1);
        }
      }
      return { count, top: [...seen].sort((a, b) => b[1] - a[1]).slice(0, 3) };
    },
    /** Log lines (parsed JSON) of every process, for figures such as "how many times was X logged". */
    logLines(filter: (line: LogLine) => boolean): { id: string; line: LogLine }[] {
      return history.flatMap((p) => readLog(p.logFile).json.filter(filter).map((line) => ({ id: p.id, line })));
    },
  };
}

export type ProcessPool = ReturnType<typeof createProcessPool>;
