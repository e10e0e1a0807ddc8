// One WebSocket subscription as a pull source of binary frames. Reading stops (ws.pause(): the kernel buffer fills
// and TCP pushes back on upstream) whenever any hold is active: a full local queue, or a stream over its high-water
// mark. Nothing read before our close is ever dropped; what comes after it is not read into the queue (upstream
// sends it again from the cursor). A heartbeat ping finds dead connections; it is suspended while reading
// is held, since pongs cannot be read then, and any message read proves the connection alive as a pong does: after a
// hold the pong comes behind everything the peer sent before it, which may take longer than a heartbeat to read
// (the soak test's relay, on a slow host, was cut as dead that way). The opening handshake must finish within two
// heartbeats.
import WebSocket from 'ws';

/** How long a peer gets to answer our close frame before the socket is cut. */
export const CLOSE_HANDSHAKE_TIMEOUT_MS = 2000;

/**
 * `oversized`: ws closed the connection (1009) because a message was over maxPayloadBytes; it was never read. `text`:
 * a text (non-binary) message, which the event-stream spec does not allow: its content is dropped, its place kept so
 * the caller counts it.
 */
export type NextFrame =
  | { kind: 'frame'; bytes: Uint8Array }
  | { kind: 'text' }
  | { kind: 'timeout' }
  | { kind: 'closed'; reason: string; oversized: boolean };

export interface FrameSource {
  /** Waits until the socket is open; rejects if it fails first. */
  opened: Promise<void>;
  next(timeoutMs: number): Promise<NextFrame>;
  hold(reason: string): void;
  release(reason: string): void;
  close(): void;
  readonly held: boolean;
}

export interface FrameSourceOptions {
  maxQueuedFrames: number;
  /** Frames can be up to 5 MB: the queue is bounded in bytes as well as in count. */
  maxQueuedBytes: number;
  heartbeatMs: number;
  maxPayloadBytes: number;
  headers?: Record<string, string>;
}

export function openFrameSource(url: string, options: FrameSourceOptions): FrameSource {
  // The opening handshake gets the deadline the heartbeat gives an open connection (silent for two pings: dead): a
  // peer that accepts the TCP connection and never answers the upgrade would otherwise hold the subscription forever.
  const ws = new WebSocket(url, {
    maxPayload: options.maxPayloadBytes, perMessageDeflate: false, headers: options.headers ?? {}, handshakeTimeout: 2 * options.heartbeatMs,
  });
  /** null: a text message in its place. */
  const queue: (Uint8Array | null)[] = [];
  let queuedBytes = 0;
  const full = () => queue.length >= options.maxQueuedFrames || queuedBytes >= options.maxQueuedBytes;
  const holds = new Set<string>();
  let closedReason: string | undefined;
  let wake: (() => void) | undefined;
  let alive = true;
  let oversized = false;
  let closing = false;

  const applyHolds = () => {
    if (holds.size > 0) ws.pause();
    else {
      // Nothing could be heard while reading was held: the connection gets a whole heartbeat from here.
      alive = true;
      ws.resume();
    }
  };
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };

  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', (err) => reject(err));
  });
  opened.catch(() => {});

  ws.on('message', (data, isBinary) => {
    // Past our close, only the peer's close frame is wanted: what else comes was never part of this connection's
    // work (the cursor stands before it) and upstream sends it again from the cursor. Read, it would be written above
    // a high-water mark that held the socket until the stop.
    if (closing) return;
    alive = true;
    if (isBinary) {
      // With the default binaryType a message already is one Buffer (a Uint8Array): kept as it is, never copied.
      const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      queue.push(buf);
      queuedBytes += buf.byteLength;
    } else queue.push(null);
    // A text message takes its place too: a queue full of them holds reading like one full of frames.
    if (full() && !holds.has('queue')) {
      holds.add('queue');
      applyHolds();
    }
    notify();
  });
  ws.on('pong', () => (alive = true));
  ws.on('error', (err) => {
    if ((err as { code?: unknown }).code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') oversized = true;
    closedReason ??= `error: ${err.message}`;
  });
  ws.on('close', (code, reason) => {
    closedReason ??= `closed: ${code}${reason.length > 0 ? ` ${reason.toString()}` : ''}`;
    clearInterval(heartbeat);
    notify();
  });
  ws.on('unexpected-response', (_req, res) => {
    closedReason = `http ${res.statusCode}`;
    ws.terminate();
  });

  const heartbeat = setInterval(() => {
    if (ws.readyState !== WebSocket.OPEN || holds.size > 0) return;
    if (!alive) {
      closedReason ??= 'heartbeat: no pong';
      ws.terminate();
      return;
    }
    alive = false;
    ws.ping();
  }, options.heartbeatMs);
  heartbeat.unref();

  return {
    opened,
    get held() {
      return holds.size > 0;
    },
    async next(timeoutMs) {
      for (;;) {
        if (queue.length > 0) {
          const bytes = queue.shift()!;
          if (bytes !== null) queuedBytes -= bytes.byteLength;
          if (holds.has('queue') && queue.length <= options.maxQueuedFrames / 2 && queuedBytes <= options.maxQueuedBytes / 2) {
            holds.delete('queue');
            applyHolds();
          }
          return bytes === null ? { kind: 'text' } : { kind: 'frame', bytes };
        }
        if (closedReason !== undefined && ws.readyState === WebSocket.CLOSED) return { kind: 'closed', reason: closedReason, oversized };
        const timedOut = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => {
            wake = undefined;
            resolve(true);
          }, timeoutMs);
          wake = () => {
            clearTimeout(timer);
            resolve(false);
          };
        });
        if (timedOut) return { kind: 'timeout' };
      }
    },
    hold(reason) {
      holds.add(reason);
      applyHolds();
    },
    release(reason) {
      if (holds.delete(reason)) applyHolds();
    },
    close() {
      closedReason ??= 'closed by us';
      closing = true;
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(1000);
      // A peer that never answers the close handshake must not keep us waiting.
      setTimeout(() => ws.terminate(), CLOSE_HANDSHAKE_TIMEOUT_MS).unref();
    },
  };
}
