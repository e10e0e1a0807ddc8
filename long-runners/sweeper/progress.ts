// Sweep progress for people: a one-line bar on a terminal, nothing extra otherwise (the JSON logs carry a line per
// page for log collectors).
import type { SweepProgress } from './sweep.ts';

export function terminalProgress(host: string, stream: NodeJS.WriteStream = process.stderr): ((p: SweepProgress) => void) | undefined {
  if (!stream.isTTY) return undefined;
  return (p) => {
    const line = `sweep ${host}: page ${p.pages}, ${p.listed} listed, ${p.queued} queued, ${p.skippedInSync} in sync, ${p.skippedPages} pages skipped${p.filtered > 0 ? `, ${p.filtered} filtered` : ''}${p.done ? ' (done)' : ''}`;
    stream.write(`\r${line.padEnd(stream.columns ?? 100)}${p.done ? '\n' : ''}`);
  };
}
