// CPU seconds a process (and what it spawned) has used, from /proc (Linux), so a benchmark on a busy machine can say
// what each part costs per event whatever else competes for the cores: wall-clock rates there mean little.
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ: 100 on Linux). */
const TICKS = 100;

interface Stat {
  ppid: number;
  /** utime + stime, seconds. */
  self: number;
  /** cutime + cstime: children that exited and were waited for, seconds. */
  reaped: number;
}

function stat(pid: number): Stat | undefined {
  let raw: string;
  try {
    raw = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Fields after the command name (which may hold spaces), numbered from 3 (state).
  const f = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
  const n = (field: number) => Number(f[field - 3]);
  return { ppid: n(4), self: (n(14) + n(15)) / TICKS, reaped: (n(16) + n(17)) / TICKS };
}

/** CPU seconds of `pid` itself. */
export function cpuSeconds(pid: number): number {
  return stat(pid)?.self ?? 0;
}

/** CPU seconds of `pid`, its exited children and its live children (a postmaster and its backends). */
export function treeCpuSeconds(pid: number): number {
  const root = stat(pid);
  if (root === undefined) return 0;
  let total = root.self + root.reaped;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const s = stat(Number(entry));
    if (s !== undefined && s.ppid === pid) total += s.self + s.reaped;
  }
  return total;
}
