// The Sql port on top of postgres.js. Statements are parameterised (`$1`...) and prepared; batch writes pass each row
// set as one text parameter (functions/index/rows.ts) or COPY it into a staging table (`copyRows`).
// NOTE: postgres.js sends a null element of a JS array parameter as the string 'NULL' through unsafe(), so arrays
// with nulls must travel as JSON instead.
import net from 'node:net';
import postgres from 'postgres';
import { unixSocketOf } from './socket-url.ts';
import type { Sql, SqlExecutor, SqlRow, SqlValue } from '../../functions/ports.ts';
import { DependencyError, errorCodeIn } from '../../functions/errors.ts';
import { isWorkerdConnectionFailure } from '../../functions/network-failure.ts';
import { watchSilentServer, type SilentWatch } from './silent-server.ts';

// Errors that say the server cannot be reached or is not serving, as opposed to a statement that failed: socket
// errors (node's errno codes and postgres.js's CONNECTION_* codes) and the SQLSTATE classes 08 (connection
// exception), 53 (insufficient resources), 58 (system error: I/O, a missing file), 57P01-57P05 (shutting down,
// crashed, starting up, database dropped, idle session timeout), and 25006: a write refused by a read-only session
// (the pool still on a demoted primary after a failover, a hot standby, default_transaction_read_only during
// maintenance) is an outage of the write path, however well `select 1` answers.
const CONNECTION_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND',
  'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT',
]);

// Contention between transactions, not a defect of the rows: a serialization failure, a deadlock (Postgres aborts
// one side, the other goes on), a lock not had within lock_timeout. Trying the same batch again is the cure, so they
// are waited out as an outage rather than counted against the entries. XX000 (internal error) and 57014 (a statement
// timeout) are left to bisection: a particular row can cause them.
const CONTENTION_CODES = new Set(['40001', '40P01', '55P03']);

// On Workers postgres.js talks over the runtime's connect() sockets, whose failures are a bare Error with no code
// (isWorkerdConnectionFailure): what ECONNREFUSED, ECONNRESET and EPIPE are under Node. Taken for a statement's
// failure, a Postgres outage was a counted retry of every queued repo, dead-lettered after BACKFILLER_MAX_RETRIES.

function unavailable(code: string): boolean {
  return CONNECTION_CODES.has(code) || code.startsWith('08') || code.startsWith('53') || code.startsWith('58') || /^57P0[1-5]$/.test(code) || code === '25006';
}

/** A connection-level failure or contention becomes a DependencyError (an outage); a statement's own error is left as it is. */
export function classifyPostgresError(err: unknown): unknown {
  if (!(err instanceof Error) || err instanceof DependencyError) return err;
  const code = String((err as { code?: unknown }).code ?? '');
  if (unavailable(code) || isWorkerdConnectionFailure(err)) return new DependencyError('postgres', `postgres unavailable: ${err.message}`, { code }, { cause: err });
  if (CONTENTION_CODES.has(code)) return new DependencyError('postgres', `postgres contention: ${err.message}`, { code }, { cause: err });
  return err;
}

/** How long a transaction body whose connection failed waits for postgres.js to report the connection closed. */
const LOST_CONNECTION_GRACE_MS = 1000;

/** The connection is gone (closed, reset, or the server is shutting it down): nothing may be written on it again. */
function connectionLost(err: unknown): boolean {
  const code = errorCodeIn(err);
  return ['CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT'].includes(code) || code.startsWith('08') || /^57P0[1-5]$/.test(code);
}

export interface SqlOptions {
  max?: number;
  /** Offer COPY to the functions (default true); false makes them use multi-row statements, as on Workers. */
  copy?: boolean;
  /** The fewest rows a step stages for COPY to be used (default COPY_MIN_ROWS); fewer travel as JSON parameters. */
  copyMinRows?: number;
  /**
   * How long a statement may wait with its connection silent before a fresh connection asks whether the server is
   * there (silent-server.ts; default SILENT_AFTER_MS). Only where this adapter opens the sockets (one TCP host).
   */
  silentAfterMs?: number;
  /** How long that fresh connection has to get an answer (default PROBE_TIMEOUT_MS). */
  probeTimeoutMs?: number;
  /** Told when connections to a silent server were cut (logged by the caller). */
  onSilent?: (info: { connections: number; waitedMs: number; why: string }) => void;
}

/** A statement waiting this long on a connection that reads nothing gets the server asked whether it is there. */
export const SILENT_AFTER_MS = 30_000;
/** What that question may take: a server that answers nothing on a new connection within it is taken for gone. */
export const PROBE_TIMEOUT_MS = 10_000;

/**
 * Below this (DATABASE_COPY_MIN_ROWS), a step's rows travel as JSON parameters. COPY costs its own round trips and
 * the writing and reading of its staging table; once every statement read its keys by index (text[] parameters,
 * planner statistics), JSON parameters measured faster on this 2-core machine at every batch size tried: two loops,
 * one per shard, 13,931 and 13,589 records/s against 12,957 and 10,326 with COPY at 2,000 records a batch,
 * 13,353 and 15,036 against 12,553 and 12,816 at 5,000. So by default index batches go as JSON, and COPY is for
 * operators who measure otherwise (a remote Postgres, larger rows).
 */
export const COPY_MIN_ROWS = 25_000;

/** A value in COPY's text format: backslash, tab, newline and carriage return escaped, NULL as \N. */
function copyField(value: string | null): string {
  if (value === null) return '\\N';
  return value.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'));
}

/** Rows at a time written to the COPY stream: one write per chunk keeps the socket busy without one call per row. */
const COPY_CHUNK_ROWS = 1000;

async function copyRows(client: Client, table: string, columns: readonly string[], rows: readonly (readonly (string | null)[])[]): Promise<void> {
  const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;
  try {
    const stream = await client.unsafe(`copy ${quote(table)} (${columns.map(quote).join(', ')}) from stdin`).writable();
    await new Promise<void>((resolve, reject) => {
      stream.on('error', reject);
      stream.on('finish', resolve);
      for (let i = 0; i < rows.length; i += COPY_CHUNK_ROWS) {
        let chunk = '';
        for (const row of rows.slice(i, i + COPY_CHUNK_ROWS)) chunk += row.map(copyField).join('\t') + '\n';
        stream.write(chunk);
      }
      stream.end();
    });
  } catch (err) {
    throw classifyPostgresError(err);
  }
}

/** Adds multi-statement scripts (migrations), which need the simple query protocol and take no parameters. */
export interface ScriptExecutor extends SqlExecutor {
  script(text: string): Promise<void>;
}

export interface PostgresSql extends Sql, ScriptExecutor {
  transaction<T>(fn: (tx: ScriptExecutor) => Promise<T>): Promise<T>;
  end(): Promise<void>;
}

type Client = postgres.Sql | postgres.TransactionSql;

/** Runs `wait` as a wait on the server, seen by the silent-server watch when there is one. */
async function waitingOn<T>(watch: SilentWatch | undefined, wait: () => Promise<T>): Promise<T> {
  const done = watch?.waiting();
  try {
    return await wait();
  } finally {
    done?.();
  }
}

function executor(client: Client, copy: number | undefined, watch: SilentWatch | undefined): ScriptExecutor {
  return {
    ...(copy === undefined
      ? {}
      : { copyMinRows: copy, copyRows: (table: string, columns: readonly string[], rows: readonly (readonly (string | null)[])[]) => waitingOn(watch, () => copyRows(client, table, columns, rows)) }),
    // Rows of unknown values: callers name the columns they read and their kinds (functions/sql-rows.ts).
    async query(text: string, params: readonly SqlValue[] = []): Promise<SqlRow[]> {
      try {
        return await waitingOn(watch, (): Promise<SqlRow[]> => client.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: true }));
      } catch (err) {
        throw classifyPostgresError(err);
      }
    },
    async script(text: string): Promise<void> {
      await waitingOn(watch, () => client.unsafe(text).simple());
    },
  };
}

/** How long opening a connection may take (postgres.js's own connect_timeout default). */
const CONNECT_TIMEOUT_MS = 30_000;

/**
 * A TCP connection with Nagle's algorithm off. NOTE: postgres.js writes a COPY's data and its CopyDone in two socket
 * writes; with Nagle on, the second waits for the server's delayed ACK, 40 ms on Linux, on every COPY (measured: COPY
 * staging was 4x slower than JSON parameters until this).
 */
function connectNoDelay(host: string, port: number): net.Socket {
  // Returned while still connecting: node buffers what postgres.js writes until the connection is up, and a refused
  // or failed connect reaches postgres.js as the socket's 'error', so it reconnects with its backoff as usual.
  const socket = net.connect({ host, port, noDelay: true, keepAlive: true });
  socket.setTimeout(CONNECT_TIMEOUT_MS, () => socket.destroy(Object.assign(new Error(`connect to ${host}:${port} timed out`), { code: 'CONNECT_TIMEOUT' })));
  socket.once('connect', () => socket.setTimeout(0));
  return socket;
}

/** The host and port of a URL naming one TCP server, or undefined (several hosts, a unix socket, no URL). */
function singleTcpHost(url: string): { host: string; port: number } | undefined {
  try {
    const u = new URL(url);
    if (u.hostname === '' || u.hostname.includes(',') || u.searchParams.has('host')) return undefined;
    return { host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port === '' ? 5432 : Number(u.port) };
  } catch {
    return undefined;
  }
}

/**
 * The address a fresh connection reaches and gets an answer from within `timeoutMs`; throws when none answers. The
 * question is an SSLRequest, which the server's own process answers with one byte ('S' or 'N') before any login or
 * backend: a server at max_connections, or a pgbouncer whose pool is busy, still answers it, and is not taken for
 * gone because its queue is long.
 */
function probeServer(host: { host: string; port: number }, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: host.host, port: host.port, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => socket.write(Uint8Array.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])));
    socket.once('data', () => {
      clearTimeout(timer);
      const address = socket.remoteAddress;
      socket.destroy();
      resolve(address);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    });
  });
}

export function createSql(url: string, options: SqlOptions = {}): PostgresSql {
  const copy = options.copy ?? true;
  const socket = unixSocketOf(url);
  const tcp = socket === undefined ? singleTcpHost(url) : undefined;
  // Where this adapter opens the sockets (one TCP host, under Node), a server gone silent under a statement is noticed.
  const watch = copy && tcp !== undefined
    ? watchSilentServer({
      silentAfterMs: options.silentAfterMs ?? SILENT_AFTER_MS,
      probe: () => probeServer(tcp, options.probeTimeoutMs ?? PROBE_TIMEOUT_MS),
      onCut: options.onSilent ?? (() => {}),
    })
    : undefined;
  const sql = postgres(socket?.url ?? url, {
    // A Unix socket (libpq's `?host=/run/postgresql`, socket-url.ts): postgres.js connects to the socket file.
    ...(socket === undefined ? {} : { path: socket.path, ...(socket.user === undefined ? {} : { user: socket.user }) }),
    // One TCP host (the usual DATABASE_URL): opened without Nagle, and watched; unix sockets and host lists keep
    // postgres.js's own.
    ...(watch !== undefined && tcp !== undefined
      ? { socket: () => {
        const opened = connectNoDelay(tcp.host, tcp.port);
        watch.track(opened);
        return opened;
      } }
      : {}),
    max: options.max ?? 10,
    onnotice: () => {},
    // Counts are bigint columns; they fit in a double, and callers want numbers.
    types: { count: { to: 20, from: [20], serialize: (v: number) => String(v), parse: (v: string) => Number(v) } },
    transform: { undefined: null },
  });
  const copyMin = copy ? (options.copyMinRows ?? COPY_MIN_ROWS) : undefined;
  // COPY only inside transactions: the staging table empties at commit, so outside one its rows would be gone
  // before the statement that reads them.
  const base = executor(sql, undefined, watch);
  return {
    ...base,
    // NOTE: when the server closes a connection under a transaction (a restart, a failover), postgres.js's begin()
    // rejects at once, but the transaction's scope goes on: it sends ROLLBACK on the dead connection, and that write
    // throws from a setImmediate, outside any promise, an uncaught TypeError that ends the process
    // (porsager/postgres#1154, #1208; 3.4.9). So a transaction body that fails because its connection is gone waits a
    // moment for begin() to see the close; if it did, the body never settles (nothing references it: it is collected)
    // and no ROLLBACK is written; the server has rolled back already. If the connection is alive after all (postgres.js
    // can hand a stale shutdown error to the first statement on a new connection), the failure goes on as usual.
    async transaction<T>(fn: (tx: ScriptExecutor) => Promise<T>): Promise<T> {
      let settled = false;
      // BEGIN and COMMIT are waits on the server too: from the call until the body starts, and from its end on.
      let done = watch?.waiting();
      try {
        return (await sql.begin(async (tx) => {
          done?.();
          try {
            return await fn(executor(tx, copyMin, watch));
          } catch (err) {
            if (connectionLost(err)) {
              await new Promise((resolve) => setTimeout(resolve, LOST_CONNECTION_GRACE_MS));
              if (settled) await new Promise<never>(() => {});
            }
            throw err;
          } finally {
            done = watch?.waiting();
          }
        })) as T;
      } catch (err) {
        throw classifyPostgresError(err);
      } finally {
        done?.();
        settled = true;
      }
    },
    end: () => {
      watch?.stop();
      return sql.end({ timeout: 5 });
    },
  };
}
