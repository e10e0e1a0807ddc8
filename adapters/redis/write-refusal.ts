// Redis refusing writes as a server, whatever they are: out of memory at maxmemory with noeviction, a replica that a
// failover left read-only, snapshots failing (stop-writes-on-bgsave-error), too few replicas, a dataset still
// loading, a script that holds the server. Such a refusal writes nothing (a MULTI is refused whole with EXECABORT,
// the once-batch script stops at it: once-batch-script.ts) and ends when the server recovers: an outage to wait out,
// never a verdict on the batch. Any other error (WRONGTYPE, a syntax error) is not one.
import { REFUSALS } from './once-batch-script.ts';

const CODES: readonly string[] = [...REFUSALS, 'LOADING', 'BUSY', 'MASTERDOWN'];

function refusalCode(message: string): boolean {
  return CODES.includes(/^[A-Z]+/.exec(message)?.[0] ?? '');
}

/** The refusal's message when `err` (or an error in its cause chain) is Redis refusing writes as a server; else undefined. */
export function writeRefusal(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (refusalCode(e.message)) return e.message;
    // EXECABORT: the MULTI ran nothing; a refusal when every command was refused as one.
    const previous = (e as { previousErrors?: unknown }).previousErrors;
    if (e.message.startsWith('EXECABORT') && Array.isArray(previous) && previous.length > 0) {
      const messages = previous.map((p) => (p instanceof Error ? p.message : String(p)));
      if (messages.every(refusalCode)) return messages[0];
    }
  }
  return undefined;
}
