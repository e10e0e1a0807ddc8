// subscribeRepos / subscribeLabels framing (event-stream spec): each binary message is two DAG-CBOR items back to
// back, a header {op, t?} and a body. op 1 is a message named by `t`; op -1 an error {error, message?} after which
// upstream closes. Unknown op or t: ignore the frame. Anything else malformed is an invalid frame.
import { decodeCborFirstFast as decodeCborFirst } from './fast-cbor.ts';
import { CborScanError } from './cbor-scan.ts';
import { CidLink } from './cid-link.ts';
import type { Reason } from '../reasons.ts';
import { MAX_FRAME_BYTES } from './limits.ts';

export type Frame =
  | { kind: 'message'; t: string; body: Record<string, unknown> }
  | { kind: 'error'; error: string; message?: string }
  | { kind: 'unknown_op'; op: unknown }
  | { kind: 'invalid'; message: string; reason?: Reason };

/** A CBOR map: not a list, bytes, or a CID link (the decoder gives objects for those too). */
function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array) && !(value instanceof CidLink);
}

export function decodeFrame(bytes: Uint8Array): Frame {
  let header: unknown;
  let body: unknown;
  try {
    const [h, rest] = decodeCborFirst(bytes);
    header = h;
    if (rest.length === 0) return { kind: 'invalid', message: 'frame has a header but no body' };
    const [b, trailing] = decodeCborFirst(rest);
    if (trailing.length > 0) return { kind: 'invalid', message: `frame has ${trailing.length} trailing bytes after the body` };
    body = b;
  } catch (err) {
    const message = `frame is not valid DAG-CBOR: ${err instanceof Error ? err.message : String(err)}`;
    // Refused by the pre-scan before anything was allocated for it.
    if (err instanceof CborScanError && err.kind === 'too_deep') return { kind: 'invalid', message, reason: 'too_deep' };
    return { kind: 'invalid', message };
  }
  if (!isMap(header)) return { kind: 'invalid', message: 'frame header is not a map' };
  if (!isMap(body)) return { kind: 'invalid', message: 'frame body is not a map' };
  const op = header['op'];
  if (op === -1) {
    const error = body['error'];
    if (typeof error !== 'string') return { kind: 'invalid', message: 'error frame without an error name' };
    const message = body['message'];
    return typeof message === 'string' ? { kind: 'error', error, message } : { kind: 'error', error };
  }
  if (op !== 1) return { kind: 'unknown_op', op };
  const t = header['t'];
  if (typeof t !== 'string') return { kind: 'invalid', message: 'message frame without a string `t`' };
  return { kind: 'message', t, body };
}

/**
 * A message's `seq` (event-stream spec: "positive, non-zero" and only increasing), or undefined when it has none or
 * one that breaks that rule (0 included: the message is then counted as invalid, never sequenced).
 */
export function messageSeq(body: Record<string, unknown>): number | undefined {
  const seq = body['seq'];
  return typeof seq === 'number' && Number.isSafeInteger(seq) && seq > 0 ? seq : undefined;
}

/** What a frame that is no message becomes, the same for subscribeRepos and subscribeLabels. */
export type NotAMessage =
  | { kind: 'error'; error: string; message?: string }
  | { kind: 'ignored'; reason: 'unknown_op' }
  | { kind: 'invalid'; reason: Reason; message: string };

/**
 * A frame within the size limit, decoded to its message, or the outcome the subscription's decoder returns instead:
 * over the limit or malformed (invalid), an unknown op (ignored), an error frame (error).
 */
export function openFrame(bytes: Uint8Array): { kind: 'message'; t: string; body: Record<string, unknown> } | NotAMessage {
  if (bytes.length > MAX_FRAME_BYTES) {
    return { kind: 'invalid', reason: 'too_big', message: `frame is ${bytes.length} bytes, over the ${MAX_FRAME_BYTES} byte limit` };
  }
  const frame = decodeFrame(bytes);
  switch (frame.kind) {
    case 'invalid':
      return { kind: 'invalid', reason: frame.reason ?? 'invalid_frame', message: frame.message };
    case 'unknown_op':
      return { kind: 'ignored', reason: 'unknown_op' };
    default:
      return frame;
  }
}
