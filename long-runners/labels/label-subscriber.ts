// The label subscriber: com.atproto.label.subscribeLabels of one labeler into label_live, through the subscription
// core (long-runners/subscription/subscription.ts: cursor compare-and-set, seqs that only increase, batching,
// high-water-mark backpressure, error frames with the FutureCursor reset, #info, flush on abort) with the pure frame
// decoder (functions/atproto/label-frame.ts). Nothing here but the wiring: one `#labels` message becomes one
// label_live entry per label (field `event`), and `label_live:cursor:<host>` moves to its seq in the same MULTI.
// With no stored cursor a labeler is followed from LABELER_INITIAL_CURSOR (0: its history is what matters).
// Besides label_live's high-water mark (every labeler's), a labeler is held on its own while the labels it sent that
// wait parked on their source's host (adapters/redis/label-parking.ts) reach `parkedHighWaterMark`.
// Whether a label is any good is the label function's verdict, never this subscriber's.
import { decodeLabelFrame } from '../../functions/atproto/label-frame.ts';
import { MAX_FRAME_BYTES } from '../../functions/atproto/limits.ts';
import { hostKey, STREAMS } from '../../adapters/redis/keys.ts';
import { createLabelParking } from '../../adapters/redis/label-parking.ts';
import { createProblemReporter } from '../subscription/problems.ts';
import { runSubscription, type SubscriberOptions, type SubscriptionHandler } from '../subscription/subscription.ts';

export const SUBSCRIBE_LABELS = 'com.atproto.label.subscribeLabels';

/** INGESTER_LABEL_PARKED_HIGH_WATER_MARK's default. */
export const DEFAULT_PARKED_HIGH_WATER_MARK = 50_000;

/** No sweep lists a labeler's labels: what its window no longer holds is not read again. */
/**
 * Ozone's subscribeLabels seq is its label row's id, and a label applied again (same src, uri, cid, val) is upserted
 * with a new id, its old one gone (ozone mod-service createLabels): a resume past our cursor there is no loss.
 */
export const LABEL_SEQ_HOLES = 'a labeler\'s seq is its label row id, and Ozone gives a label applied again a new id, leaving a hole';

export const LABEL_GAP_REPAIR = 'none: the labeler no longer serves the labels in the gap, so they (negations too) stay missing from `label`';

export interface LabelSubscriberOptions extends SubscriberOptions {
  initialCursor: number;
  /** INGESTER_LABEL_PARKED_HIGH_WATER_MARK: this labeler's parked labels at which its subscription pauses. */
  parkedHighWaterMark?: number;
  /** Runs with each entry's `event` once its batch is written (tests keep what was written, to replay it). */
  onWritten?: (event: string) => void;
}

export async function runLabelSubscriber(o: LabelSubscriberOptions): Promise<void> {
  const hostLabel = hostKey(o.host);
  const stream = o.keys.stream(STREAMS.labelLive);
  const report = createProblemReporter({
    metrics: o.metrics, counter: 'skytide_label_subscription_errors_total', host: o.host, hostLabel, log: o.log, msg: 'label frame problem',
  });
  const parking = createLabelParking(o.redis, o.keys);
  const handler: SubscriptionHandler = {
    async holdReason() {
      const parked = await parking.parkedFrom(hostLabel);
      const mark = o.parkedHighWaterMark ?? DEFAULT_PARKED_HIGH_WATER_MARK;
      return parked >= mark
        ? `${parked} labels from this labeler are parked, waiting on their sources' hosts (INGESTER_LABEL_PARKED_HIGH_WATER_MARK ${mark})`
        : undefined;
    },
    onMessage(message, batch) {
      // The core has framed the message and checked its seq; the decoder reads the same bytes into entries.
      const out = decodeLabelFrame(message.bytes, hostLabel);
      switch (out.kind) {
        case 'labels':
          for (const d of out.dropped) report(d.reason, d.count, { seq: out.seq });
          for (const entry of out.entries) {
            const event = JSON.stringify(entry);
            batch.append({ stream, fields: { event } }, () => {
              o.metrics.inc('skytide_label_entries_total', { host: hostLabel });
              o.onWritten?.(event);
            });
          }
          return 'sequenced';
        case 'ignored':
          report(out.reason, 1, { t: out.t });
          return 'ignored';
        case 'invalid':
          report(out.reason, 1, { message: out.message, seq: out.seq });
          return 'invalid';
        default:
          // #info and error frames are the core's: it never hands them to a handler.
          return 'ignored';
      }
    },
  };
  await runSubscription({
    redis: o.redis, host: o.host, nsid: SUBSCRIBE_LABELS, stream, cursorKey: o.keys.cursor(STREAMS.labelLive, o.host),
    highWaterMark: o.highWaterMark, batchSize: o.batchSize, batchTimeoutMs: o.batchTimeoutMs, initialCursor: o.initialCursor,
    maxFrameBytes: MAX_FRAME_BYTES, outdatedCursorRepair: LABEL_GAP_REPAIR, seqHolesNormal: LABEL_SEQ_HOLES, log: o.log, metrics: o.metrics, report, signal: o.signal,
    counters: { frames: 'skytide_label_frames_total', errors: 'skytide_label_subscription_errors_total' },
    ...(o.lengthCheckIntervalMs === undefined ? {} : { lengthCheckIntervalMs: o.lengthCheckIntervalMs }),
    ...(o.backoff === undefined ? {} : { backoff: o.backoff }),
    ...(o.heartbeatMs === undefined ? {} : { heartbeatMs: o.heartbeatMs }),
    ...(o.outageBoard === undefined ? {} : { outageBoard: o.outageBoard }),
    ...(o.refusalBackoff === undefined ? {} : { refusalBackoff: o.refusalBackoff }),
    beat: o.beat,
    ...(o.onConnection === undefined ? {} : { onConnection: o.onConnection }),
    ...(o.lease === undefined ? {} : { lease: { ...o.lease, key: o.keys.lease(STREAMS.labelLive, o.host) } }),
  }, handler);
}
