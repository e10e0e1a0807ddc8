// Stream, group and cursor names. They follow rsky (rsky-contract.md section 2) so a team can switch over; an
// optional prefix namespaces a deployment (and each test file) on a shared Redis.

export const STREAMS = {
  firehoseLive: 'firehose_live',
  firehoseBackfill: 'firehose_backfill',
  repoBackfill: 'repo_backfill',
  labelLive: 'label_live',
} as const;

export const GROUPS = {
  firehose: 'firehose_group',
  label: 'label_group',
  repoBackfill: 'repo_backfill_group',
} as const;

/** `!ingester-done` marks a listRepos sweep that completed (rsky and TS sentinel). */
export const SWEEP_DONE = '!ingester-done';

export interface KeySpace {
  stream(name: string): string;
  dlq(stream: string): string;
  cursor(stream: string, host: string): string;
  /** `<stream>:waiting:<host>`: a hash of the DIDs whose frames wait for their identity on this host (ours, not rsky's). */
  waiting(stream: string, host: string): string;
  /** `<stream>:parked:<host>:<did>`: a list of that DID's waiting frames, oldest first (ours, not rsky's). */
  parked(stream: string, host: string, did: string): string;
}

/** `https://relay.example/` and `relay.example` share one cursor key: the host without scheme or trailing slash. */
export function hostKey(host: string): string {
  return host.replace(/^[a-z]+:\/\//i, '').replace(/\/+$/, '');
}

export function createKeySpace(prefix = ''): KeySpace {
  const p = (name: string) => `${prefix}${name}`;
  return {
    stream: (name) => p(name),
    dlq: (stream) => `${p(stream)}_dlq`,
    cursor: (stream, host) => `${p(stream)}:cursor:${hostKey(host)}`,
    waiting: (stream, host) => `${p(stream)}:waiting:${hostKey(host)}`,
    parked: (stream, host, did) => `${p(stream)}:parked:${hostKey(host)}:${did}`,
  };
}
