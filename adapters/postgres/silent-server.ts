// A Postgres that goes silent under a statement (its host partitioned away, the process frozen, a failover that moved
// the address while the old one drops packets) sends no reset: the statement waits on TCP, which gives up only after
// keepalive's probes or the retransmissions, 12 to 15 minutes on Linux's defaults, with the batch's lane stopped.
// Node cannot set TCP_USER_TIMEOUT, so this watch does what it would: once a statement has waited `silentAfterMs`,
// a fresh connection asks the server for an answer (`probe`). If none comes, or it comes from another address than a
// connection's, every connection of the pool that has read nothing for `silentAfterMs` is cut, its statements fail
// as an outage (ECONNRESET: waited out and retried, nothing lost), and postgres.js opens new ones. A server that
// answers at the same address is slow, not gone: nothing is cut, however long a statement runs (a migration's index).
import type net from 'node:net';

export interface SilentWatchOptions {
  /** How long a statement waits, and a connection reads nothing, before the server is asked whether it is there. */
  silentAfterMs: number;
  /** Resolves with the address a fresh connection reached and got an answer from; rejects when none answered. */
  probe: () => Promise<string | undefined>;
  /** Told what was cut, and why. */
  onCut: (info: { connections: number; waitedMs: number; why: string }) => void;
}

export interface SilentWatch {
  /** A socket of the pool, watched from its creation until it closes. */
  track(socket: net.Socket): void;
  /** A wait on the server begins (a statement, BEGIN, COMMIT); the returned function ends it. */
  waiting(): () => void;
  stop(): void;
}

interface Watched {
  socket: net.Socket;
  /** When the socket last received bytes (or connected). */
  readAt: number;
}

export function watchSilentServer(o: SilentWatchOptions): SilentWatch {
  const sockets = new Set<Watched>();
  const waits = new Map<symbol, number>();
  let probing = false;

  const check = async (): Promise<void> => {
    if (probing) return;
    const now = Date.now();
    let oldest = now;
    for (const since of waits.values()) oldest = Math.min(oldest, since);
    if (now - oldest < o.silentAfterMs) return;
    const quiet = () => [...sockets].filter((w) => !w.socket.destroyed && Date.now() - w.readAt >= o.silentAfterMs);
    if (quiet().length === 0) return;
    probing = true;
    let reached: string | undefined;
    let why: string | undefined;
    try {
      reached = await o.probe();
    } catch (err) {
      why = `a new connection got no answer: ${err instanceof Error ? err.message : String(err)}`;
    } finally {
      probing = false;
    }
    // Answered at the same address: the server is there and the statement slow. Answered elsewhere: the address moved
    // (a failover), and connections to the old one are cut.
    const cut = quiet().filter((w) => why !== undefined || (reached !== undefined && w.socket.remoteAddress !== undefined && w.socket.remoteAddress !== reached));
    if (cut.length === 0) return;
    why ??= `the server answers at ${reached ?? '?'} now`;
    for (const w of cut) {
      sockets.delete(w);
      w.socket.destroy(Object.assign(new Error(`postgres went silent: no byte for ${o.silentAfterMs} ms under a statement, and ${why}`), { code: 'ECONNRESET' }));
    }
    o.onCut({ connections: cut.length, waitedMs: Date.now() - oldest, why });
  };

  // Looked at four times within silentAfterMs, so a wait is seen at most a quarter of it late.
  const timer = setInterval(() => void check(), Math.max(50, Math.min(5_000, Math.floor(o.silentAfterMs / 4))));
  timer.unref();

  return {
    track(socket) {
      const watched: Watched = { socket, readAt: Date.now() };
      sockets.add(watched);
      const heard = () => void (watched.readAt = Date.now());
      socket.on('connect', heard);
      socket.on('data', heard);
      socket.once('close', () => sockets.delete(watched));
    },
    waiting() {
      const id = Symbol('wait');
      waits.set(id, Date.now());
      return () => void waits.delete(id);
    },
    stop() {
      clearInterval(timer);
    },
  };
}
