// CPU seconds a process (and what it spawned) has used, from /proc (Linux), so a benchmark on a busy machine can say
// what each part costs per event whatever else competes for the cores: wall-clock rates there mean little.
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ: 100 on Linux). */
const TICKS = 100;

interface Stat {
  /** The command name (`postgres`, `redis-server`, ...). */
  comm: string;
  ppid: number;
  /** utime + stime, seconds. */
  self: number;
  /** cutime + cstime: children that exited and were waited for, seconds. */
  reaped: number;
}

function stat(pid: number | string): Stat | undefined {
  let raw: string;
  try {
    raw = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // pid (comm) state ...: the command name may hold spaces, so fields are counted from its closing parenthesis,
  // numbered from 3 (state).
  const f = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
  const n = (field: number) => Number(f[field - 3]);
  return { comm: raw.slice(raw.indexOf('(') + 1, raw.lastIndexOf(')')), ppid: n(4), self: (n(14) + n(15)) / TICKS, reaped: (n(16) + n(17)) / TICKS };
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

export type ServiceCpu = Record<'postgres' | 'redis', number>;

/**
 * CPU seconds the machine's own Postgres and Redis have used (every process named `postgres` or `redis-server`):
 * where a benchmark's time went besides Node's own (process.cpuUsage). A backend's time reaches its postmaster's
 * reaped time when it exits, so backends that come and go are counted. Undefined where /proc cannot be read.
 */
export function serviceCpuSeconds(): ServiceCpu | undefined {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^[0-9]+$/.test(name));
  } catch {
    return undefined;
  }
  const out: ServiceCpu = { postgres: 0, redis: 0 };
  for (const pid of pids) {
    const s = stat(pid);
    const service = s?.comm === 'postgres' ? 'postgres' : s?.comm === 'redis-server' ? 'redis' : undefined;
    if (s !== undefined && service !== undefined) out[service] += s.self + s.reaped;
  }
  return out;
}
