// Redis refusing writes as a server, whatever they are: out of memory at maxmemory with noeviction, a replica that a
// failover left read-only, snapshots failing (stop-writes-on-bgsave-error), too few replicas, a dataset still
// loading, a script that holds the server. Such a refusal writes nothing (a MULTI is refused whole with EXECABORT,
// the once-batch script stops at it: once-batch-script.ts) and ends when the server recovers: an outage to wait out,
// never a verdict on the batch. Any other error (WRONGTYPE, a syntax error) is not one.
// A Redis Cluster without a reachable primary for a slot is one too: CLUSTERDOWN and TRYAGAIN (a slot migrating), and
// the errors ioredis gives a command once it stops retrying one (maxRedirections, ~16 tries 100 ms apart: a primary
// gone for more than ~1.6 s, a crash or the seconds before its replica takes over): "Too many Cluster redirections.
// Last error: ...", or "Connection is closed." from a node's connection. Taken for a verdict, they made the
// subscription end its task and the supervisor exit 1, a crash loop until the failover ended. A command whose
// connection closed may have run (its reply lost): sent again it runs twice, as when ioredis itself sends it again
// after a reconnect, which the writers are built for (stream-writer.ts: a resend with the batch's token lands once).
import { REFUSALS } from './once-batch-script.ts';

const CODES: readonly string[] = [...REFUSALS, 'LOADING', 'BUSY', 'MASTERDOWN', 'CLUSTERDOWN', 'TRYAGAIN'];

/** ioredis's own messages (its CONNECTION_CLOSED_ERROR_MSG, its Cluster's maxRedirections) for a server out of reach. */
const UNREACHABLE: readonly RegExp[] = [/^Too many Cluster redirections\b/, /^Connection is closed\.?$/];

function refusalCode(message: string): boolean {
  return CODES.includes(/^[A-Z]+/.exec(message)?.[0] ?? '');
}

/**
 * The refusal's message when `err` (or an error in its cause chain) is Redis refusing writes as a server, or a Cluster
 * out of reach for the write's slot; else undefined.
 */
export function writeRefusal(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (refusalCode(e.message) || UNREACHABLE.some((r) => r.test(e.message))) return e.message;
    // EXECABORT: the MULTI ran nothing; a refusal when every command was refused as one.
    const previous = (e as { previousErrors?: unknown }).previousErrors;
    if (e.message.startsWith('EXECABORT') && Array.isArray(previous) && previous.length > 0) {
      const messages = previous.map((p) => (p instanceof Error ? p.message : String(p)));
      if (messages.every(refusalCode)) return messages[0];
    }
  }
  return undefined;
}
