// Progress of long CLI work (`skytide sweep`, `skytide reprocess`) for the person who started it: on a terminal one
// line redrawn in place (a bar when the total is known, the rate, the ETA); elsewhere (a pipe, a log file, CI) plain
// lines, at most one every `plainEveryMs` and a last one at the end, so logs stay readable.

export interface ProgressSnapshot {
  /** Units done so far (repos listed, records indexed). */
  done: number;
  /** The total when it is known (a repo's leaf count); listRepos gives none, so a sweep has no ETA. */
  total?: number;
  /** What `done` counts, plural: `repos`, `records`. */
  unit: string;
  /** Further figures, shown after the rate: `page 12`, `3,100 queued`. */
  extra?: readonly string[];
}

const number = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** `1m05s`, `2h03m`, `45s`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  return `${h}h${String(m % 60).padStart(2, '0')}m`;
}

/** One line of progress. Pure: the caller says how long the work has run. */
export function formatProgress(label: string, p: ProgressSnapshot, elapsedMs: number, o: { bar?: boolean; width?: number } = {}): string {
  const rate = elapsedMs > 0 ? (p.done * 1000) / elapsedMs : 0;
  const parts: string[] = [];
  if (p.total !== undefined && p.total > 0) {
    const fraction = Math.min(1, p.done / p.total);
    const cells = o.width ?? 20;
    const bar = o.bar === false ? '' : `[${'#'.repeat(Math.round(fraction * cells)).padEnd(cells, '.')}] `;
    parts.push(`${bar}${number.format(p.done)}/${number.format(p.total)} ${p.unit} (${Math.floor(fraction * 100)}%)`);
  } else {
    parts.push(`${number.format(p.done)} ${p.unit}`);
  }
  parts.push(`${number.format(rate)} ${p.unit}/s`);
  for (const e of p.extra ?? []) parts.push(e);
  if (p.total !== undefined && p.total > 0) {
    const left = p.total - p.done;
    parts.push(left <= 0 ? 'done' : rate > 0 ? `ETA ${formatDuration((left / rate) * 1000)}` : 'ETA -');
  }
  parts.push(`elapsed ${formatDuration(elapsedMs)}`);
  return `${label}: ${parts.join(', ')}`;
}

export interface ProgressLine {
  update(p: ProgressSnapshot): void;
  /** Writes the final state (ending the terminal line). */
  finish(p?: ProgressSnapshot): void;
}

interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(chunk: string): unknown;
}

export function progressLine(label: string, o: { stream?: ProgressStream; now?: () => number; plainEveryMs?: number; redrawEveryMs?: number } = {}): ProgressLine {
  const stream = o.stream ?? process.stderr;
  const now = o.now ?? Date.now;
  const started = now();
  const tty = stream.isTTY === true;
  const every = tty ? (o.redrawEveryMs ?? 100) : (o.plainEveryMs ?? 5000);
  let lastWrite = -Infinity;
  let last: ProgressSnapshot | undefined;
  let finished = false;
  const write = (p: ProgressSnapshot, end: boolean) => {
    const line = formatProgress(label, p, now() - started, { bar: tty });
    if (tty) stream.write(`\r${line.slice(0, Math.max(20, (stream.columns ?? 120) - 1)).padEnd((stream.columns ?? 120) - 1)}${end ? '\n' : ''}`);
    else stream.write(`${line}\n`);
    lastWrite = now();
  };
  return {
    update(p) {
      last = p;
      if (!finished && now() - lastWrite >= every) write(p, false);
    },
    finish(p) {
      if (finished) return;
      finished = true;
      const final = p ?? last;
      if (final !== undefined) write(final, true);
    },
  };
}
