// CPU seconds the machine's own services have used, read from /proc: where a benchmark's time went besides Node's own
// (process.cpuUsage). A Postgres backend's time reaches its postmaster's children's time when it exits, so the sum
// over the processes named `postgres` counts backends that come and go. Linux only: elsewhere, undefined.
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ, 100 on every Linux architecture Node runs on

export type ServiceCpu = Record<'postgres' | 'redis', number>;

export function serviceCpuSeconds(): ServiceCpu | undefined {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^[0-9]+$/.test(name));
  } catch {
    return undefined;
  }
  const out: ServiceCpu = { postgres: 0, redis: 0 };
  for (const pid of pids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // pid (comm) state ppid ...: comm may hold spaces, so the fields are counted from its closing parenthesis.
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const service = comm === 'postgres' ? 'postgres' : comm === 'redis-server' ? 'redis' : undefined;
    if (service === undefined) continue;
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime, stime, cutime, cstime are fields 14-17 of the line, 12-15 after the comm.
    const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
    out[service] += ticks / TICKS_PER_SECOND;
  }
  return out;
}
