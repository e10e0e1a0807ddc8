// The label_live contract (README.md, "Contracts": `label_live`). skytide writes ONE label per
// entry, field `event` = `{"type":"label","host":"<labeler host without scheme>","label":{...}}`, the label's fields
// exactly as the labeler sent them and `sig` as `{"$bytes"}`, so re-encoding gives back the signed bytes. Readers
// also accept what the pipelines before us wrote: rsky's field `labels` = `{"seq","labels":[...]}` (one entry per
// frame, without `sig`, `exp`, `ver` or a host) and the TypeScript pipeline's `event` = `{"type":"label","label"}`
// (no host). Whether each label is good is the label function's verdict, not the parser's: this only finds the
// labels in an entry and says exactly what is wrong with an entry that has none to offer.
import type { JsonObject, ParseResult } from '../events.ts';

export interface LabelEntry {
  /** Where the labels came from: skytide's `event` entries, or rsky's `labels` entries (no signatures). */
  form: 'event' | 'rsky';
  /** The labeler host the entry was read from, without scheme; absent in the entries of rsky and the TS pipeline. */
  host?: string;
  /** The labels as lex-JSON, unchecked. */
  labels: unknown[];
}

/** The metric label of an entry's host: entries of rsky and the TS pipeline name none. */
export const UNKNOWN_HOST = 'unknown';

/** The JSON skytide writes in field `event` for one label. */
export interface LabelLiveEvent {
  type: 'label';
  host: string;
  label: JsonObject;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** One item: a label_live `event` (`{type:"label", host?, label}`) or an rsky `labels` value (`{seq, labels}`). */
export function parseLabelItem(value: unknown): ParseResult<LabelEntry> {
  if (!isObject(value)) return { ok: false, message: 'label entry is not an object' };
  if (value['type'] === 'label') {
    const host = value['host'];
    if (host !== undefined && (typeof host !== 'string' || host.length === 0)) return { ok: false, message: 'host must be a non-empty string' };
    if (!('label' in value)) return { ok: false, message: 'label entry has no label' };
    return { ok: true, value: { form: 'event', labels: [value['label']], ...(typeof host === 'string' ? { host } : {}) } };
  }
  if (Array.isArray(value['labels'])) return { ok: true, value: { form: 'rsky', labels: value['labels'] } };
  return { ok: false, message: 'neither {"type":"label","label"} nor {"seq","labels":[...]}' };
}

function json(raw: string, name: string): ParseResult<unknown> {
  try {
    return { ok: true, value: JSON.parse(raw) };
  } catch {
    return { ok: false, message: `\`${name}\` is not JSON` };
  }
}

/** The edge parser of a label_live entry's fields: `event` (skytide, the TS pipeline) or `labels` (rsky). */
export function parseLabelFields(fields: Record<string, string>): ParseResult<LabelEntry> {
  const event = fields['event'];
  if (event !== undefined) {
    const parsed = json(event, 'event');
    if (!parsed.ok) return parsed;
    if (!isObject(parsed.value) || parsed.value['type'] !== 'label') return { ok: false, message: '`event` is not a label event' };
    return parseLabelItem(parsed.value);
  }
  const labels = fields['labels'];
  if (labels !== undefined) {
    const parsed = json(labels, 'labels');
    if (!parsed.ok) return parsed;
    if (!isObject(parsed.value) || !Array.isArray(parsed.value['labels'])) return { ok: false, message: '`labels` is not {"seq","labels":[...]}' };
    return parseLabelItem(parsed.value);
  }
  return { ok: false, message: 'entry has neither an `event` nor a `labels` field' };
}
