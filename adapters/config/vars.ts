// Every environment variable skytide reads: name, type, default and what it does. This table is the single source:
// the parser (parse.ts) reads it, the README lists it (a test checks that), and Workers bindings go through the same
// parser. Names follow rsky where rsky had one.

export type VarType = 'string' | 'url' | 'int' | 'bool' | 'list' | 'enum';

export interface VarSpec {
  name: string;
  type: VarType;
  /** The value used when the variable is unset; `undefined` means optional with no value. */
  default?: string;
  /** Allowed values for `enum`. */
  values?: readonly string[];
  /** Schemes a `url` may have (without the colon); every `url` must also name a host, or a Unix socket for Postgres. */
  schemes?: readonly string[];
  /** Integer bounds for `int`. */
  min?: number;
  max?: number;
  doc: string;
}

/**
 * The longest delay a timer takes (setTimeout, setInterval, AbortSignal.timeout): 2^31 - 1 ms, 24.8 days. Node fires
 * a longer one after about 1 ms (and AbortSignal.timeout throws at 2^32), so a deadline past it cut every download at
 * once and a wait past it never ended: every millisecond variable has it, or less, as its max (a test checks).
 */
export const MAX_TIMER_MS = 2_147_483_647;

export const VARS = [
  { name: 'SKYTIDE_ENV', type: 'enum', values: ['production', 'dev'], default: 'production', doc: 'dev relaxes auth on mutating HTTP routes (never use it on a reachable host)' },
  { name: 'LOG_LEVEL', type: 'enum', values: ['debug', 'info', 'warn', 'error'], default: 'info', doc: 'lowest level written to stdout as JSON lines' },
  { name: 'REDIS_URL', type: 'url', schemes: ['redis', 'rediss'], default: 'redis://127.0.0.1:6379', doc: 'Redis holding the streams, cursors and consumer groups; a path is the database\'s number (`/0`, `/1`, ...; any other path is refused), and a database the server refuses (past its `databases`) is a configuration error at connect: the process exits 1 naming REDIS_URL rather than run on database 0' },
  { name: 'REDIS_KEY_PREFIX', type: 'string', default: '', doc: 'prefix for every stream and key, to share one Redis between deployments' },
  { name: 'DATABASE_URL', type: 'url', schemes: ['postgres', 'postgresql'], default: 'postgres://postgres@127.0.0.1:5432/postgres', doc: 'Postgres holding the AppView index' },
  { name: 'DATABASE_COPY_MIN_ROWS', type: 'int', default: '25000', min: 0, doc: 'fewest rows an index step writes for them to go by COPY into a staging table instead of as parameters (0: always COPY); parameters measured faster here at every batch size up to 5,000 records, so by default batches go as one text parameter per row set' },
  { name: 'DATABASE_POOL_MAX', type: 'int', default: '16', min: 1, max: 200, doc: 'connections per process, opened as they are needed; with every task busy, up to INDEXER_SPLIT per index loop and one per backfill and label loop (11 with the defaults), and the HTTP requests; below that, transactions wait for a connection' },
  { name: 'SKYTIDE_TASK_STUCK_MS', type: 'int', default: '600000', min: 0, max: MAX_TIMER_MS, doc: 'how long a task of `skytide run` may go without reporting progress (a unit of work done, or a legitimate wait: an empty read, a backpressure pause, a backoff, a cron wait) before it is taken for hung: logged with its name and silence, counted in skytide_tasks_stuck_total, /ready failed, and the process exits 1 for the orchestrator to restart; 0 disables the watchdog, else at least 60000 (idle loops report every 10 s) above BACKFILLER_STALL_MS (a repo download reports each chunk it receives, and one that receives nothing is cut at BACKFILLER_STALL_MS), and above REDIS_SOCKET_TIMEOUT_MS plus 1000 (a Redis that stops answering while its connections look up is seen down, and waited out, only once the socket timeout closes them, a consumer\'s blocked read 1 s later)' },
  { name: 'SKYTIDE_MIGRATE_ON_START', type: 'bool', default: 'false', doc: 'apply infra/migrations before `skytide run` starts its tasks' },
  { name: 'INGESTER_RELAY_HOSTS', type: 'list', default: '', doc: 'comma-separated relays or PDSes to subscribe to; http:// means ws://, https:// or none means wss://; each host once (`relay.example` and `wss://relay.example/` are one host, one cursor: refused)' },
  { name: 'INGESTER_HIGH_WATER_MARK', type: 'int', default: '100000', min: 1, doc: 'firehose_live length at which the adapter stops reading its socket until consumers catch up' },
  { name: 'INGESTER_BATCH_SIZE', type: 'int', default: '500', min: 1, max: 10000, doc: 'events per MULTI written to the stream' },
  { name: 'INGESTER_BATCH_TIMEOUT_MS', type: 'int', default: '1000', min: 1, max: MAX_TIMER_MS, doc: 'longest wait before a partial batch is written' },
  { name: 'INGESTER_TRUST_UPSTREAM', type: 'bool', default: 'false', doc: 'skip signature and MST checks of commits because the upstream already verifies them (counted per commit)' },
  { name: 'INGESTER_IDENTITY_WAIT_MAX_FRAMES', type: 'int', default: '50000', min: 1, doc: 'frames per relay parked while their DIDs wait for an identity (PLC or DNS down, a did:web host down); at it the adapter stops reading its socket until they are released' },
  { name: 'INGESTER_IDENTITY_DID_WAIT_MS', type: 'int', default: '3600000', min: 1, max: MAX_TIMER_MS, doc: 'how long frames wait for a DID whose own did:web host does not answer; then its commits are dropped as unverifiable and the repo resynced' },
  { name: 'INGESTER_COLLECTIONS', type: 'list', default: '', doc: 'comma-separated collections to keep (NSIDs, or a prefix ending in `.*`); empty keeps every collection. Applies to live events and backfilled repos; commits are still verified whole' },
  { name: 'INGESTER_DIDS', type: 'list', default: '', doc: 'comma-separated DIDs to keep; empty keeps every DID. Others write no event, are not backfilled and are not queued by sweeps' },
  { name: 'INGESTER_EXCLUDE_DIDS', type: 'list', default: '', doc: 'comma-separated DIDs to drop (same effect as not being kept), for a deployment that keeps every DID but these; a DID in both lists is refused at start-up' },
  { name: 'FIREHOSE_INITIAL_CURSOR', type: 'int', min: 0, doc: 'seq to start from when no cursor is stored for a host; unset means live' },
  { name: 'INGESTER_LABELER_HOSTS', type: 'list', default: '', doc: 'comma-separated labelers to follow with subscribeLabels; http:// means ws://, https:// or none means wss://; each host once (`mod.example` and `https://mod.example/` are one host, one cursor: refused)' },
  { name: 'LABELER_INITIAL_CURSOR', type: 'int', default: '0', min: 0, doc: "seq to start from when no cursor is stored for a labeler; 0 is its whole history, which is what matters for labels" },
  { name: 'INGESTER_LABEL_HIGH_WATER_MARK', type: 'int', min: 1, doc: 'label_live length at which the label subscriber stops reading its sockets; unset means INGESTER_HIGH_WATER_MARK' },
  { name: 'INGESTER_LABEL_PARKED_HIGH_WATER_MARK', type: 'int', default: '50000', min: 1, doc: "labels parked from one labeler (each waiting on its source's did:web host, which does not answer) at which that labeler's subscription, and only it, stops reading its socket until they are released; entries that name no labeler (`unknown`: the TypeScript pipeline's) past it wait in label_live instead" },
  { name: 'LABEL_PARKED_RECHECK_MAX_MS', type: 'int', default: '300000', min: 100, max: MAX_TIMER_MS, doc: "longest wait between two checks of a did:web host that parked labels wait on (the checks back off with how long it has been down); once it answers they go back into label_live" },
  { name: 'LABEL_TRUSTED_SOURCES', type: 'list', default: '', doc: "comma-separated labeler DIDs whose labels are accepted unsigned (rsky's entries, which name no labeler host: an unsigned label read from a host is refused, whoever it names) or from another host than their own (each counted)" },
  { name: 'LABEL_QUERY_TIMEOUT_MS', type: 'int', default: '10000', min: 1, max: MAX_TIMER_MS, doc: 'statement_timeout of queryLabels\' queries: past it (a lock held on `label`, a slow plan) the request answers 503 `dependency_unavailable` naming it, instead of holding the request and its connection for as long as Postgres takes; no 0 (off), for that is what it prevents (at most 2147483647, Postgres\'s own bound)' },
  { name: 'INDEXER_CONSUMER', type: 'string', doc: 'consumer name in the groups, unique per instance; default hostname-pid' },
  { name: 'INDEXER_STREAMS', type: 'list', default: 'firehose_live,firehose_backfill', doc: 'streams the index consumer reads' },
  { name: 'INDEXER_BATCH_SIZE', type: 'int', default: '4000', min: 1, max: 10000, doc: 'most entries per call of the index function (one transaction); a read takes what is waiting up to this times INDEXER_SPLIT, so a trickle is not held back' },
  { name: 'INDEXER_CONCURRENCY', type: 'int', default: '1', min: 1, max: 64, doc: 'consumer loops per stream in this process (label_live too); more than one reads interleaved batches, and a repo in two of them waits on its own locks: INDEXER_SPLIT is the faster way to use more cores' },
  { name: 'INDEXER_SPLIT', type: 'int', default: '3', min: 1, max: 16, doc: 'lanes each read of an index stream is split into by DID (a DID always in the same lane), a transaction in each at once; a read takes up to INDEXER_BATCH_SIZE times this, and a lane done with its part of a read starts on its part of the next while the others finish (two reads in flight). 1 with STREAM_SHARDS and a loop per shard' },
  { name: 'INDEXER_SHARDS', type: 'list', default: '', doc: 'comma-separated shard numbers (0 to STREAM_SHARDS - 1) of the indexer\'s streams this process reads; empty reads every shard. With one process per group of shards, no repo is indexed by two processes at once (they would wait on each other\'s row locks); together the processes must cover every shard' },
  { name: 'INDEXER_MAX_ATTEMPTS', type: 'int', default: '5', min: 1, doc: 'deliveries before an entry moves to <stream>_dlq' },
  { name: 'INDEXER_CLAIM_IDLE_MS', type: 'int', default: '60000', min: 100, max: MAX_TIMER_MS, doc: 'pending entries idle this long are claimed and processed again' },
  { name: 'BACKFILLER_CONCURRENCY', type: 'int', default: '4', min: 1, max: 256, doc: 'repos fetched and indexed at once by this process (one consumer loop each, so a slow repo stalls no other)' },
  { name: 'BACKFILLER_MAX_RETRIES', type: 'int', default: '5', min: 1, doc: 'deliveries of a repo_backfill entry before it moves to repo_backfill_dlq' },
  { name: 'BACKFILLER_TIMEOUT_MS', type: 'int', default: '120000', min: 1000, max: MAX_TIMER_MS, doc: 'deadline for downloading one repo (getRepo and its retries); verifying and indexing are bounded by the size limits' },
  { name: 'BACKFILLER_STALL_MS', type: 'int', default: '30000', min: 1000, max: MAX_TIMER_MS, doc: 'a try of a repo download (getRepo) that receives nothing this long (no answer, or a body that stopped arriving) is cut as stalled (`fetch_failed`, retried on a later delivery), while one receiving bytes runs to BACKFILLER_TIMEOUT_MS; below SKYTIDE_TASK_STUCK_MS' },
  { name: 'BACKFILLER_MAX_REPO_BYTES', type: 'int', default: '536870912', min: 1024, doc: 'largest repo CAR accepted; a repo is held once in memory while it is verified and indexed, so peak memory is about this times BACKFILLER_CONCURRENCY' },
  { name: 'WORKER_MAX_REPO_BYTES', type: 'int', default: '67108864', min: 1024, doc: 'largest repo CAR a Worker backfills (128 MB of memory per isolate holds the CAR once plus a chunk of records); a larger one is refused as too_large_for_worker, never half-indexed, and left to a container backfill' },
  { name: 'WORKER_SWEEP_PAGES_PER_TICK', type: 'int', default: '20', min: 1, max: 200, doc: 'listRepos pages a Worker cron tick sweeps per relay before it stops until the next tick (CPU time and subrequests per invocation are bounded)' },
  { name: 'WORKER_SWEEP_EVERY_MS', type: 'int', default: '86400000', min: 0, max: MAX_TIMER_MS, doc: 'time from the start of one Worker sweep pass of a relay to the start of the next (a pass in progress continues at every cron tick)' },
  { name: 'WORKER_OUTAGE_DELAY_MS', type: 'int', default: '30000', min: 1000, max: 43200000, doc: 'how long a Worker\'s backfill message waits before it comes back after a dependency outage (sent again, no attempt counted; Cloudflare rounds up to whole seconds)' },
  { name: 'BACKFILLER_PER_HOST', type: 'int', default: '2', min: 1, max: 64, doc: 'getRepo downloads at once to any one PDS from this process; a repo beyond them waits for a slot, and its deadline and stall limit start once it has one' },
  { name: 'BACKFILLER_OUTPUT', type: 'enum', values: ['index', 'stream'], default: 'index', doc: 'index backfilled repos here, or write their events to firehose_backfill for separate indexers' },
  { name: 'PLC_URL', type: 'url', schemes: ['http', 'https'], default: 'https://plc.directory', doc: 'PLC directory that resolves did:plc' },
  { name: 'HANDLE_RESOLVER_URL', type: 'url', schemes: ['http', 'https'], doc: 'resolve handles with com.atproto.identity.resolveHandle on this service instead of DNS and HTTPS (private networks)' },
  { name: 'IDENTITY_ALLOW_PRIVATE', type: 'bool', default: 'false', doc: 'let DID documents point at loopback or private addresses (local dev networks only)' },
  { name: 'SWEEP_CRON', type: 'string', doc: 'when `skytide run` sweeps listRepos of every relay into repo_backfill (5-field cron, UTC; one that never fires, such as Feb 30, is refused at start-up); unset: only on demand' },
  { name: 'SWEEP_PAGE_SIZE', type: 'int', default: '1000', min: 1, max: 1000, doc: 'repos asked for per listRepos page (the lexicon allows up to 1000); a numeric-cursor page that keeps failing is skipped as this many' },
  { name: 'SWEEP_PAGE_TIMEOUT_MS', type: 'int', default: '30000', min: 1000, max: MAX_TIMER_MS, doc: 'deadline for one listRepos page' },
  { name: 'SWEEP_PAGE_ATTEMPTS', type: 'int', default: '3', min: 1, max: 20, doc: 'tries of a listRepos page that fails in itself (with doubling waits from 1 s; in the Worker sweep, ticks) before it is skipped or the sweep stops; a relay that is down is waited out and costs none' },
  { name: 'SWEEP_MAX_SKIPPED_IN_A_ROW', type: 'int', default: '10', min: 1, max: 10000, doc: 'listRepos pages skipped one after another (each after SWEEP_PAGE_ATTEMPTS tries while the relay answered from the start) before the sweep stops with fetch_failed at the next failing page instead of skipping it too, where the next sweep (or Worker tick) resumes: a relay that answers its first page and fails every other is broken, not a run of bad pages' },
  { name: 'SWEEP_LEASE_TTL_MS', type: 'int', default: '60000', min: 1000, max: MAX_TIMER_MS, doc: 'life of a host\'s sweep lease without renewal: the Redis sweeper renews it every third of it, the Worker\'s cron sweep (in `sweep_state`) between pages, so the Worker refuses a value below SWEEP_PAGE_TIMEOUT_MS plus 10000; a crashed sweeper\'s host is free again after this' },
  { name: 'HTTP_HOST', type: 'string', default: '127.0.0.1', doc: 'address the HTTP server binds (the container sets 0.0.0.0)' },
  { name: 'HTTP_PORT', type: 'int', default: '3000', min: 0, max: 65535, doc: 'HTTP port for functions, health, readiness and metrics; every `run` process listens on it, whatever `--only` says, so two processes on one machine need distinct ports (0: any free port)' },
  { name: 'HTTP_BODY_LIMIT_BYTES', type: 'int', default: '10485760', min: 1024, doc: 'largest request body accepted by the function routes' },
  { name: 'INGESTER_MAX_FRAME_BYTES', type: 'int', default: '5242880', min: 65536, doc: 'largest subscribeRepos frame read (subscribeLabels keeps 5 MB); a larger one is counted as too_big and skipped (one a little larger is read and passed, a much larger one closes the socket and the cursor steps past it)' },
  { name: 'SKYTIDE_API_TOKEN', type: 'string', doc: 'bearer token for mutating routes (letters, digits, `-._~+/`, trailing `=`); required outside dev mode (without it they answer 503)' },
  { name: 'STREAM_SHARDS', type: 'int', default: '1', min: 1, max: 1024, doc: 'shards of firehose_live, firehose_backfill and repo_backfill (`<name>:{n}` by a hash of the DID; 1 keeps the single streams and rsky\'s key names); change it only with the streams drained' },
  { name: 'REDIS_CLUSTER_NODES', type: 'list', default: '', doc: 'comma-separated host:port seeds of a Redis Cluster (keys then carry hash tags); empty means one Redis at REDIS_URL' },
  { name: 'REDIS_SOCKET_TIMEOUT_MS', type: 'int', default: '30000', min: 2000, max: 600000, doc: 'how long a Redis connection that owes a reply may receive nothing before it is taken for dead (a peer gone without closing it: a failover, a NAT or firewall that dropped the connection, a paused VM), closed and made again, its commands sent again; a consumer\'s blocking read gets its BLOCK time on top. Without it such a connection holds its commands until the kernel gives up, about 15 minutes. Until it fires, the task watchdog sees the commands\' wait as a hang: SKYTIDE_TASK_STUCK_MS must be above it plus 1000' },
] as const satisfies readonly VarSpec[];

/** Prefixes we own: an unknown variable under one of them is probably a typo, so it is warned about. */
export const OWNED_PREFIXES = ['SKYTIDE_', 'INGESTER_', 'INDEXER_', 'BACKFILLER_', 'FIREHOSE_', 'IDENTITY_', 'SWEEP_', 'LABELER_', 'LABEL_'] as const;
