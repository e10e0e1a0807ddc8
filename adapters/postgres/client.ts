// The Sql port on top of postgres.js. Statements are parameterised (`$1`...) and prepared; batch writes pass one
// jsonb parameter and expand it with jsonb_to_recordset. NOTE: postgres.js sends a null element of a JS array
// parameter as the string 'NULL' through unsafe(), so arrays with nulls must travel as JSON instead.
import postgres from 'postgres';
import type { Sql, SqlExecutor, SqlRow, SqlValue } from '../../functions/ports.ts';

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
      const rows = await client.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: true });
      return rows as unknown as R[];
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
    async transaction<T>(fn: (tx: ScriptExecutor) => Promise<T>): Promise<T> {
      return (await sql.begin((tx) => fn(executor(tx)))) as T;
    },
    end: () => sql.end({ timeout: 5 }),
  };
}
