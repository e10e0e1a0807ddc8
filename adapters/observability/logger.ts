// JSON-lines logger implementing the Log port: one object per line with level, time, component, msg and fields.
// Errors in fields are flattened to strings so a cause chain survives JSON.
import type { Log, LogFields } from '../../functions/ports.ts';
import { describeError } from '../../functions/errors.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LoggerOptions {
  level: LogLevel;
  component: string;
  /** Where lines go; stdout by default. Tests pass a collector. */
  write?: (line: string) => void;
}

function normalise(fields: LogFields | undefined): LogFields {
  if (fields === undefined) return {};
  const out: LogFields = {};
  for (const [k, v] of Object.entries(fields)) out[k] = v instanceof Error ? describeError(v) : v;
  return out;
}

export function createLogger(options: LoggerOptions): Log {
  const write = options.write ?? ((line: string) => process.stdout.write(line + '\n'));
  const min = RANK[options.level];
  const emit = (level: LogLevel, msg: string, fields?: LogFields) => {
    if (RANK[level] < min) return;
    const line = { level, time: new Date().toISOString(), component: options.component, msg, ...normalise(fields) };
    let text: string;
    try {
      text = JSON.stringify(line, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    } catch (err) {
      text = JSON.stringify({ level, time: line.time, component: options.component, msg, logError: describeError(err) });
    }
    write(text);
  };
  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    child: (component) => createLogger({ ...options, component }),
  };
}
