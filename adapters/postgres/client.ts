// The Sql port on top of postgres.js. Statements are parameterised (`$1`...) and prepared; batch writes pass one
// jsonb parameter and expand it with jsonb_to_recordset. NOTE: postgres.js sends a null element of a JS array
// parameter as the string 'NULL' through unsafe(), so arrays with nulls must travel as JSON instead.
import postgres from 'postgres';
import type { Sql, SqlExecutor, SqlRow, SqlValue } from '../../functions/ports.ts';
import { DependencyError } from '../../functions/errors.ts';

// Errors that say the server cannot be reached or is not serving, as opposed to a statement that failed: socket
// errors (node's errno codes and postgres.js's CONNECTION_* codes) and the SQLSTATE classes 08 (connection
// exception), 53 (insufficient resources), 57P01-57P03 (shutting down, crashed, starting up).
const CONNECTION_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND',
  'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT',
]);

/** A connection-level failure becomes a DependencyError (an outage); a statement's own error is left as it is. */
export function classifyPostgresError(err: unknown): unknown {
  if (!(err instanceof Error) || err instanceof DependencyError) return err;
  const code = String((err as { code?: unknown }).code ?? '');
  const outage = CONNECTION_CODES.has(code) || code.startsWith('08') || code.startsWith('53') || /^57P0[123]$/.test(code);
  return outage ? new DependencyError('postgres', `postgres unavailable: ${err.message}`, { code }, { cause: err }) : err;
}

/** The nearest error code in the cause chain (ours wrap postgres.js's). */
function codeIn(err: unknown): string {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return '';
}

/** How long a transaction body whose connection failed waits for postgres.js to report the connection closed. */
const LOST_CONNECTION_GRACE_MS = 1000;

/** The connection is gone (closed, reset, or the server is shutting it down): nothing may be written on it again. */
function connectionLost(err: unknown): boolean {
  const code = codeIn(err);
  return ['CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT'].includes(code) || code.startsWith('08') || /^57P0[123]$/.test(code);
}

export interface SqlOptions {
  max?: number;
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

function executor(client: Client): ScriptExecutor {
  return {
    async query<R extends SqlRow = SqlRow>(text: string, params: readonly SqlValue[] = []): Promise<R[]> {
      try {
        const rows = await client.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: true });
        return rows as unknown as R[];
      } catch (err) {
        throw classifyPostgresError(err);
      }
    },
    async script(text: string): Promise<void> {
      await client.unsafe(text).simple();
    },
  };
}

export function createSql(url: string, options: SqlOptions = {}): PostgresSql {
  const sql = postgres(url, {
    max: options.max ?? 10,
    onnotice: () => {},
    // Counts are bigint columns; they fit in a double, and callers want numbers.
    types: { count: { to: 20, from: [20], serialize: (v: number) => String(v), parse: (v: string) => Number(v) } },
    transform: { undefined: null },
  });
  const base = executor(sql);
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
      try {
        return (await sql.begin(async (tx) => {
          try {
            return await fn(executor(tx));
          } catch (err) {
            if (connectionLost(err)) {
              await new Promise((resolve) => setTimeout(resolve, LOST_CONNECTION_GRACE_MS));
              if (settled) await new Promise<never>(() => {});
            }
            throw err;
          }
        })) as T;
      } catch (err) {
        throw classifyPostgresError(err);
      } finally {
        settled = true;
      }
    },
    end: () => sql.end({ timeout: 5 }),
  };
}
