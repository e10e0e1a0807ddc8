// A five-field cron expression (minute hour day-of-month month day-of-week, UTC) for SWEEP_CRON: numbers, `*`,
// `*/n`, ranges `a-b` (with `/n`) and lists. Day-of-month and day-of-week combine as in cron: when both are
// restricted, either may match.
export interface Cron {
  next(after: Date): Date;
}

const BOUNDS: [number, number][] = [[0, 59], [0, 23], [1, 31], [1, 12], [0, 6]];

function field(text: string, [min, max]: [number, number], name: string): Set<number> {
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
    if (m === null) throw new Error(`cron ${name}: cannot read ${JSON.stringify(part)}`);
    const step = m[4] === undefined ? 1 : Number(m[4]);
    const from = m[1] === '*' ? min : Number(m[2]);
    const to = m[1] === '*' ? max : m[3] === undefined ? (m[4] === undefined ? from : max) : Number(m[3]);
    if (from < min || to > max || from > to || step < 1) throw new Error(`cron ${name}: ${JSON.stringify(part)} is outside ${min}-${max}`);
    for (let v = from; v <= to; v += step) out.add(v);
  }
  return out;
}

export function parseCron(expression: string): Cron {
  const parts = expression.trim().split(/\s+/);
  if (parts.length !== 5) throw new Error(`cron: expected 5 fields (minute hour day month weekday), got ${parts.length}`);
  const names = ['minute', 'hour', 'day of month', 'month', 'day of week'];
  const [minutes, hours, days, months, weekdays] = parts.map((p, i) => field(p, BOUNDS[i]!, names[i]!)) as [Set<number>, Set<number>, Set<number>, Set<number>, Set<number>];
  const anyDay = parts[2] === '*';
  const anyWeekday = parts[4] === '*';
  const dayMatches = (d: Date) => {
    const dom = days.has(d.getUTCDate());
    const dow = weekdays.has(d.getUTCDay());
    return anyDay && anyWeekday ? true : anyDay ? dow : anyWeekday ? dom : dom || dow;
  };
  return {
    next(after) {
      const t = new Date(after.getTime());
      t.setUTCSeconds(0, 0);
      t.setUTCMinutes(t.getUTCMinutes() + 1);
      // At most a year of minutes: an expression that never fires (Feb 30) is reported, not looped on.
      for (let i = 0; i < 366 * 24 * 60; i++) {
        if (months.has(t.getUTCMonth() + 1) && dayMatches(t) && hours.has(t.getUTCHours()) && minutes.has(t.getUTCMinutes())) return t;
        t.setUTCMinutes(t.getUTCMinutes() + 1);
      }
      throw new Error(`cron ${JSON.stringify(expression)} does not fire within a year`);
    },
  };
}
