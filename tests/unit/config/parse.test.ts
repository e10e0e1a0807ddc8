import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../../adapters/config/parse.ts';
import { configProblems } from '../../helpers/config-problems.ts';
import { VARS } from '../../../adapters/config/vars.ts';
import { SkytideError } from '../../../functions/errors.ts';
import { QUERY_LABELS_TIMEOUT_MS } from '../../../functions/label/query.ts';

describe('parseConfig: one parser for process.env and Workers bindings', () => {
  it('gives every variable its documented default from an empty environment', () => {
    const { config, unknown } = parseConfig({});
    expect(unknown).toEqual([]);
    expect(config.env).toBe('production');
    expect(config.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(config.relayHosts).toEqual([]);
    expect(config.highWaterMark).toBe(100_000);
    expect(config.ingesterBatchSize).toBe(500);
    expect(config.ingesterBatchTimeoutMs).toBe(1000);
    expect(config.firehoseInitialCursor).toBeUndefined();
    expect(config.indexerStreams).toEqual(['firehose_live', 'firehose_backfill']);
    expect(config.migrateOnStart).toBe(false);
    expect(config.backfillerMaxRepoBytes).toBe(512 * 1024 * 1024);
  });

  it('parses lists, integers and booleans', () => {
    const { config } = parseConfig({
      INGESTER_RELAY_HOSTS: ' http://127.0.0.1:2583 , bsky.network ,',
      FIREHOSE_INITIAL_CURSOR: '0',
      SKYTIDE_MIGRATE_ON_START: 'yes',
      INDEXER_STREAMS: 'firehose_live',
      BACKFILLER_MAX_REPO_BYTES: '1048576',
    });
    expect(config.backfillerMaxRepoBytes).toBe(1_048_576);
    expect(config.relayHosts).toEqual(['http://127.0.0.1:2583', 'bsky.network']);
    expect(config.firehoseInitialCursor).toBe(0);
    expect(config.migrateOnStart).toBe(true);
    expect(config.indexerStreams).toEqual(['firehose_live']);
  });

  it('names every bad value in one error instead of falling back to defaults', () => {
    let error: unknown;
    try {
      parseConfig({ INGESTER_BATCH_SIZE: '12abc', LOG_LEVEL: 'loud', HTTP_PORT: '70000', REDIS_URL: 'not a url' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toBeInstanceOf(SkytideError);
    expect((error as ConfigError).reason).toBe('invalid_config');
    const problems = (error as ConfigError).problems;
    expect(problems).toHaveLength(4);
    expect(problems.join('\n')).toMatch(/INGESTER_BATCH_SIZE="12abc" is not an integer/);
    expect(problems.join('\n')).toMatch(/LOG_LEVEL="loud" is not one of debug\|info\|warn\|error/);
    expect(problems.join('\n')).toMatch(/HTTP_PORT=70000 is out of range/);
    expect(problems.join('\n')).toMatch(/REDIS_URL is not a URL/);
  });

  it('refuses a URL with the wrong scheme or no host, naming the variable and not echoing the value', () => {
    const problemsOf = configProblems;
    // `new URL` reads `db.internal:5432/skytide` as scheme `db.internal:`; postgres.js then connected to localhost.
    expect(problemsOf({ DATABASE_URL: 'db.internal:5432/skytide' })).toEqual(['DATABASE_URL must start with postgres:// or postgresql:// (it starts with "db.internal:")']);
    expect(problemsOf({ DATABASE_URL: 'postgres:pw@db/skytide' })).toEqual(['DATABASE_URL names no host']);
    expect(problemsOf({ REDIS_URL: 'redis.internal:6379' })).toEqual(['REDIS_URL must start with redis:// or rediss:// (it starts with "redis.internal:")']);
    expect(problemsOf({ PLC_URL: 'ftp://plc.directory' })).toEqual(['PLC_URL must start with http:// or https:// (it starts with "ftp:")']);
    expect(problemsOf({ PLC_URL: 'plc.directory:443' })).toEqual(['PLC_URL must start with http:// or https:// (it starts with "plc.directory:")']);
    expect(problemsOf({ HANDLE_RESOLVER_URL: 'pds.internal:2583' })).toEqual(['HANDLE_RESOLVER_URL must start with http:// or https:// (it starts with "pds.internal:")']);
    expect(problemsOf({ DATABASE_URL: 'postgres://app:hunter2@db:5432/x', REDIS_URL: 'http://app:hunter2@redis' }).join('\n')).not.toContain('hunter2');
    // What the project documents and tests keep working: TLS Redis, both Postgres schemes, libpq's Unix-socket forms.
    const { config } = parseConfig({
      REDIS_URL: 'rediss://:pw@redis.internal:6380/2', DATABASE_URL: 'postgresql:///index?host=/run/postgresql&user=skytide',
      PLC_URL: 'http://127.0.0.1:2582', HANDLE_RESOLVER_URL: 'https://pds.internal',
    });
    expect([config.redisUrl, config.databaseUrl, config.plcUrl, config.handleResolverUrl]).toEqual([
      'rediss://:pw@redis.internal:6380/2', 'postgresql:///index?host=/run/postgresql&user=skytide', 'http://127.0.0.1:2582', 'https://pds.internal',
    ]);
    expect(parseConfig({ DATABASE_URL: 'postgres://skytide@%2Frun%2Fpostgresql:5432/index' }).config.databaseUrl).toBe('postgres://skytide@%2Frun%2Fpostgresql:5432/index');
  });

  it('refuses INGESTER_RELAY_HOSTS entries that are not a host, as for labelers', () => {
    expect(() => parseConfig({ INGESTER_RELAY_HOSTS: 'bsky.network/xrpc,https://relay.example/?x=1,not a host,bsky.network' })).toThrow(
      'INGESTER_RELAY_HOSTS holds what is not a host: bsky.network/xrpc, https://relay.example/?x=1, not a host',
    );
    const hosts = ['bsky.network', 'relay.example:8443', 'http://127.0.0.1:2583', 'https://relay.example/', 'ws://127.0.0.1:9', 'wss://relay2.example'];
    expect(parseConfig({ INGESTER_RELAY_HOSTS: hosts.join(',') }).config.relayHosts).toEqual(hosts);
  });

  it('reads SWEEP_CRON at start-up and names a bad expression', () => {
    expect(parseConfig({ SWEEP_CRON: '0 3 * * *' }).config.sweepCron).toBe('0 3 * * *');
    expect(() => parseConfig({ SWEEP_CRON: '0 25 * * *' })).toThrow(/SWEEP_CRON: cron "0 25 \* \* \*": .*hour: 25/);
  });

  it('reads INDEXER_SHARDS as shard numbers below STREAM_SHARDS, and names any other', () => {
    expect(parseConfig({}).config.indexerShards).toEqual([]);
    expect(parseConfig({ STREAM_SHARDS: '4', INDEXER_SHARDS: '3, 1,1' }).config.indexerShards).toEqual([1, 3]);
    expect(() => parseConfig({ STREAM_SHARDS: '2', INDEXER_SHARDS: '0,2,x' })).toThrow(/INDEXER_SHARDS names shards that are not 0 to STREAM_SHARDS - 1: 2, x/);
    expect(() => parseConfig({ INDEXER_SHARDS: '1' })).toThrow(/INDEXER_SHARDS/);
  });

  it('rejects streams the index consumer cannot read', () => {
    expect(() => parseConfig({ INDEXER_STREAMS: 'firehose_live,label_live' })).toThrow(/unknown streams: label_live/);
  });

  it('reads the label variables: a labeler is followed from 0, the label high-water mark defaults to the firehose one', () => {
    const defaults = parseConfig({ INGESTER_HIGH_WATER_MARK: '5000' }).config;
    expect(defaults.labelerHosts).toEqual([]);
    expect(defaults.labelerInitialCursor).toBe(0);
    expect(defaults.labelHighWaterMark).toBe(5000);
    expect(defaults.labelTrustedSources).toEqual([]);
    const set = parseConfig({
      INGESTER_LABELER_HOSTS: 'mod.bsky.app, http://127.0.0.1:2587',
      LABELER_INITIAL_CURSOR: '42',
      INGESTER_LABEL_HIGH_WATER_MARK: '7',
      LABEL_TRUSTED_SOURCES: 'did:plc:ar7c4by46qjdydhdevvrndac',
    }).config;
    expect(set.labelerHosts).toEqual(['mod.bsky.app', 'http://127.0.0.1:2587']);
    expect(set.labelerInitialCursor).toBe(42);
    expect(set.labelHighWaterMark).toBe(7);
    expect(set.labelTrustedSources).toEqual(['did:plc:ar7c4by46qjdydhdevvrndac']);
  });

  it('names bad label variables together with every other bad value, in one error', () => {
    let error: unknown;
    try {
      parseConfig({ LABEL_TRUSTED_SOURCES: 'did:plc:ok,mod.bsky.app', INGESTER_LABELER_HOSTS: 'mod.bsky.app/xrpc', LABELER_INITIAL_CURSOR: '-1', SWEEP_CRON: '0 25 * * *' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'LABELER_INITIAL_CURSOR=-1 is out of range [0, inf]',
      expect.stringMatching(/^SWEEP_CRON: cron "0 25 \* \* \*": .*hour/),
      // A typo'd DID would trust nobody: refused with why it cannot exist, as INGESTER_DIDS words it.
      'LABEL_TRUSTED_SOURCES: "did:plc:ok" cannot exist in atproto (a did:plc identifier is 24 characters of base32 (a-z, 2-7))',
      'LABEL_TRUSTED_SOURCES: "mod.bsky.app" is not a DID',
      'INGESTER_LABELER_HOSTS holds what is not a host: mod.bsky.app/xrpc',
    ]);
  });

  it('reads LABEL_QUERY_TIMEOUT_MS: 10 s by default (queryLabelsInTime\'s own), a positive number of ms, never 0', () => {
    expect(parseConfig({}).config.labelQueryTimeoutMs).toBe(QUERY_LABELS_TIMEOUT_MS);
    expect(parseConfig({ LABEL_QUERY_TIMEOUT_MS: '250' }).config.labelQueryTimeoutMs).toBe(250);
    expect(parseConfig({ LABEL_QUERY_TIMEOUT_MS: '2147483647' }).config.labelQueryTimeoutMs).toBe(2_147_483_647);
    // 0 would be no timeout, what the variable exists to prevent; past 2^31 - 1 ms Postgres refuses the setting.
    for (const bad of ['0', '-5', '2147483648']) {
      expect(() => parseConfig({ LABEL_QUERY_TIMEOUT_MS: bad }), bad).toThrow(`LABEL_QUERY_TIMEOUT_MS=${bad} is out of range [1, 2147483647]`);
    }
    for (const bad of ['10s', '1.5']) {
      expect(() => parseConfig({ LABEL_QUERY_TIMEOUT_MS: bad }), bad).toThrow(`LABEL_QUERY_TIMEOUT_MS="${bad}" is not an integer`);
    }
    expect(parseConfig({ LABEL_QUERY_TIMEOUT_MS: '1000' }).unknown).toEqual([]);
  });

  it('refuses a SWEEP_CRON that never fires, as a configuration error', () => {
    for (const cron of ['0 0 30 2 *', '0 0 31 4 *']) {
      expect(() => parseConfig({ SWEEP_CRON: cron }), cron).toThrow(ConfigError);
      expect(() => parseConfig({ SWEEP_CRON: cron }), cron).toThrow(/SWEEP_CRON: cron ".*" does not fire/);
    }
    expect(parseConfig({ SWEEP_CRON: '0 0 29 2 *' }).config.sweepCron).toBe('0 0 29 2 *');
  });

  it('reads SKYTIDE_TASK_STUCK_MS: 10 minutes by default, 0 turns the watchdog off, below a minute is refused', () => {
    expect(parseConfig({}).config.taskStuckMs).toBe(600_000);
    expect(parseConfig({ SKYTIDE_TASK_STUCK_MS: '0' }).config.taskStuckMs).toBe(0);
    expect(parseConfig({ SKYTIDE_TASK_STUCK_MS: '60000', BACKFILLER_TIMEOUT_MS: '30000' }).config.taskStuckMs).toBe(60_000);
    // Idle loops beat every 10 s: a shorter limit would kill a task that only waits.
    expect(() => parseConfig({ SKYTIDE_TASK_STUCK_MS: '5000' })).toThrow(/SKYTIDE_TASK_STUCK_MS=5000 must be 0 \(no watchdog\) or at least 60000/);
    expect(() => parseConfig({ SKYTIDE_TASK_STUCK_MS: '-1' })).toThrow(/SKYTIDE_TASK_STUCK_MS=-1 is out of range/);
    // A repo's download beats as each chunk arrives, so its deadline may be longer than the limit (a huge repo)...
    expect(parseConfig({ SKYTIDE_TASK_STUCK_MS: '600000', BACKFILLER_TIMEOUT_MS: '3600000' }).config.backfillerTimeoutMs).toBe(3_600_000);
    // ...but one that receives nothing must be cut as stalled before the watchdog takes it for a hang.
    expect(parseConfig({}).config.backfillerStallMs).toBe(30_000);
    expect(() => parseConfig({ SKYTIDE_TASK_STUCK_MS: '60000', BACKFILLER_STALL_MS: '60000' })).toThrow(/SKYTIDE_TASK_STUCK_MS=60000 must be above BACKFILLER_STALL_MS \(60000\), or 0/);
    expect(parseConfig({ SKYTIDE_TASK_STUCK_MS: '0', BACKFILLER_STALL_MS: '900000' }).config.taskStuckMs).toBe(0);
    // A Redis that stops answering is seen down (and waited out) only once REDIS_SOCKET_TIMEOUT_MS closes its
    // connections, a consumer's blocked read 1 s later: until then the watchdog would take the wait for a hang.
    expect(() => parseConfig({ SKYTIDE_TASK_STUCK_MS: '120000', REDIS_SOCKET_TIMEOUT_MS: '119000' })).toThrow(/SKYTIDE_TASK_STUCK_MS=120000 must be above REDIS_SOCKET_TIMEOUT_MS \(119000\) plus a consumer's 1000 ms blocking read, or 0/);
    expect(parseConfig({ SKYTIDE_TASK_STUCK_MS: '120000', REDIS_SOCKET_TIMEOUT_MS: '118999' }).config.taskStuckMs).toBe(120_000);
    expect(parseConfig({ SKYTIDE_TASK_STUCK_MS: '0', REDIS_SOCKET_TIMEOUT_MS: '600000' }).config.taskStuckMs).toBe(0);
  });

  it('refuses an API token no bearer header can carry, without echoing it', () => {
    expect(parseConfig({ SKYTIDE_API_TOKEN: 'abc-DEF_123.~+/==' }).config.apiToken).toBe('abc-DEF_123.~+/==');
    expect(() => parseConfig({ SKYTIDE_API_TOKEN: 'my secret!' })).toThrow(/SKYTIDE_API_TOKEN holds characters a bearer token cannot carry/);
    expect(() => parseConfig({ SKYTIDE_API_TOKEN: 'my secret!' })).not.toThrow(/my secret/);
  });

  it('reports unknown variables under our prefixes as likely typos, and ignores everyone else', () => {
    const { unknown } = parseConfig({ INGESTER_RELAY_HOST: 'x', LABEL_TRUSTED_SOURCE: 'did:plc:x', PATH: '/bin', HOME: '/root' });
    expect(unknown).toEqual(['INGESTER_RELAY_HOST', 'LABEL_TRUSTED_SOURCE']);
  });

  it('documents every variable', () => {
    for (const spec of VARS) expect(spec.doc.length, spec.name).toBeGreaterThan(10);
  });
});
