// One signal that aborts when any of several does, for an operation that ends: unlike AbortSignal.any, it lets go of
// its sources when released. Node's AbortSignal.any keeps every composite it made in each source's dependants, and
// with a source that lives as long as the process (a task's stop signal) they pile up for good, even once collected
// or aborted (nodejs/node#55351, #64476: about 1.7 KB a call on Node 22). A backfill makes one per repo and a sweep one
// per page, so months of them were gigabytes. Here each source holds one listener, removed by `release`.

export interface LinkedSignal {
  signal: AbortSignal;
  /** Unhooks the signal from its sources (idempotent): call it once the operation it guards is over. */
  release(): void;
}

/** A signal aborted with the reason of the first of `sources` to abort (at once if one already has). */
export function linkSignals(sources: readonly AbortSignal[]): LinkedSignal {
  const controller = new AbortController();
  const hooks: { source: AbortSignal; onAbort: () => void }[] = [];
  const release = () => {
    for (const { source, onAbort } of hooks.splice(0)) source.removeEventListener('abort', onAbort);
  };
  for (const source of sources) {
    if (source.aborted) {
      release();
      controller.abort(source.reason);
      break;
    }
    const onAbort = () => {
      release();
      controller.abort(source.reason);
    };
    source.addEventListener('abort', onAbort, { once: true });
    hooks.push({ source, onAbort });
  }
  return { signal: controller.signal, release };
}
