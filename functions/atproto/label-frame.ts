// com.atproto.label.subscribeLabels frames -> label_live entries (event-stream spec; label spec "subscribeLabels").
// The contract between this pure decoder and the label subscriber that calls it:
// - Bytes in, exactly one LabelFrameOutcome out; never an exception, whatever upstream sends.
// - `#labels {seq, labels[]}` becomes `{kind:'labels', seq, entries}`: one entry per label, each the JSON for field
//   `event` of label_live, `{type:"label", host, label}`, with the label's fields exactly as received (unknown ones
//   included) and `sig` as lex-JSON `{"$bytes"}`, so re-encoding the label gives back the bytes its issuer signed.
//   Whether a label is any good (syntax, signature, source) is the label function's verdict, not this decoder's: a
//   label is dropped here only when it cannot be written as lex-JSON at all (not a map, a float), counted in
//   `dropped` by reason. `entries` may be empty; the subscriber's cursor still moves to `seq` once they are written.
// - `#info` is `{kind:'info', name, message?}` (logged and counted by the caller; it carries no seq).
// - An op = -1 error frame is `{kind:'error', error, message?}`: upstream closes after it (FutureCursor,
//   ConsumerTooSlow), and the caller handles it as the firehose adapter does.
// - An unknown `t` or `op` is `{kind:'ignored'}` (the spec says to ignore it), with its seq when the body has one.
// - Anything malformed (bad CBOR, a `#labels` without a seq or a labels array, over MAX_FRAME_BYTES) is
//   `{kind:'invalid', reason}`, with the seq when one could be read, so the caller can count it and move on.
import type { JsonObject } from '../events.ts';
import type { LabelLiveEvent } from '../label/entry.ts';
import type { Reason } from '../reasons.ts';
import { openFrame } from './frame.ts';
import { cborToLex } from './lex-json.ts';

export type LabelFrameOutcome =
  | { kind: 'labels'; seq: number; entries: LabelLiveEvent[]; dropped: { reason: Reason; count: number }[] }
  | { kind: 'info'; name: string; message?: string }
  | { kind: 'error'; error: string; message?: string }
  | { kind: 'ignored'; reason: Reason; t?: string; seq?: number }
  | { kind: 'invalid'; reason: Reason; message: string; seq?: number };

function seqOf(body: Record<string, unknown>): number | undefined {
  const seq = body['seq'];
  return typeof seq === 'number' && Number.isSafeInteger(seq) && seq >= 0 ? seq : undefined;
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

/**
 * Decodes one subscribeLabels message. `host` is the labeler's host without scheme, as the subscriber names it in
 * its cursor key; it is written into every entry so the label function can check the labels' source against it.
 */
export function decodeLabelFrame(bytes: Uint8Array, host: string): LabelFrameOutcome {
  const frame = openFrame(bytes);
  if (frame.kind !== 'message') return frame;
  const { t, body } = frame;
  const seq = seqOf(body);
  if (t === '#info') {
    const name = body['name'];
    const message = body['message'];
    if (typeof name !== 'string') return { kind: 'invalid', reason: 'invalid_frame', message: '#info without a name' };
    return typeof message === 'string' ? { kind: 'info', name, message } : { kind: 'info', name };
  }
  if (t !== '#labels') {
    return seq === undefined ? { kind: 'ignored', reason: 'unknown_frame_type', t } : { kind: 'ignored', reason: 'unknown_frame_type', t, seq };
  }
  if (seq === undefined) return { kind: 'invalid', reason: 'invalid_frame', message: '#labels without a valid seq' };
  const labels = body['labels'];
  if (!Array.isArray(labels)) return { kind: 'invalid', reason: 'invalid_frame', message: '#labels without a labels array', seq };
  const entries: LabelLiveEvent[] = [];
  let dropped = 0;
  for (const raw of labels) {
    if (!isMap(raw)) {
      dropped++;
      continue;
    }
    let label: JsonObject;
    try {
      label = cborToLex(raw) as JsonObject;
    } catch {
      dropped++;
      continue;
    }
    entries.push({ type: 'label', host, label });
  }
  return { kind: 'labels', seq, entries, dropped: dropped === 0 ? [] : [{ reason: 'invalid_label', count: dropped }] };
}
