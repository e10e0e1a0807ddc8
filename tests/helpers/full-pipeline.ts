// The whole live pipeline in-process, as `skytide run --only firehose,index,backfill` wires it, through the CLI's own
// createResources and buildTasks (see pipeline.ts): the firehose adapter with sync 1.1 checks and per-repo state, the
// index consumers queueing the resyncs they ask for, and the repo_backfill consumers repairing them. `settle` waits
// until the cursor reached a seq and firehose_live, firehose_backfill and repo_backfill are empty.
import { startCliPipeline, type PipelineOptions, type RunningPipeline } from './pipeline.ts';

export function startFullPipeline(o: PipelineOptions): RunningPipeline {
  return startCliPipeline(['firehose', 'index', 'backfill'], o);
}
