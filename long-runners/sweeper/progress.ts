// Sweep progress for people (`skytide sweep`): a line redrawn in place on a terminal, plain lines every few seconds
// otherwise (long-runners/cli/progress-line.ts). listRepos gives no total, so it shows the listing rate, not an ETA.
// The JSON logs carry a line per page for log collectors either way.
import type { SweepProgress } from './sweep.ts';
import { progressLine, type ProgressLine } from '../cli/progress-line.ts';

export function sweepProgress(host: string, o: Parameters<typeof progressLine>[1] = {}): (p: SweepProgress) => void {
  const line: ProgressLine = progressLine(`sweep ${host}`, o);
  return (p) => {
    const snapshot = {
      done: p.listed,
      unit: 'repos',
      extra: [`page ${p.pages}`, `${p.queued} queued`, `${p.skippedInSync} in sync`, `${p.skippedPages} pages skipped`, ...(p.filtered > 0 ? [`${p.filtered} filtered`] : []), ...(p.invalidDids > 0 ? [`${p.invalidDids} invalid DIDs dropped`] : [])],
    };
    if (p.done) line.finish(snapshot);
    else line.update(snapshot);
  };
}
