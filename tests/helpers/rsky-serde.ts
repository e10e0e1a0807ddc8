// How rsky's Redis consumers read a stream entry, expressed in TypeScript, so a test can tell whether a team that
// switches back from skytide to rsky loses what skytide left in the streams. rsky's Redis pipeline as it stood before
// rsky-wintermute replaced it (blacksky-algorithms/rsky, commit f808570c, the parent of 197a9feb that removed it):
// - repo_backfill: rsky-backfiller/src/repo_backfiller.rs (read_messages) takes field `repo` and reads it with
//   serde_json into BackfillEvent (rsky-backfiller/src/lib.rs: did, host, rev String; status Option<String>; active
//   bool). An entry that does not deserialize is logged, then ACKed and XDELed: it is gone.
// - firehose_live / firehose_backfill: rsky-indexer/src/stream_indexer.rs (handle_message) takes field `event` into
//   StreamEvent (rsky-indexer/src/lib.rs: tagged by `type`; seq required for create/update/delete, -1 by default for
//   repo/account/identity; handle Option). A failure leaves the entry pending.
// - label_live: rsky-indexer/src/label_indexer.rs (handle_message) takes field `labels` into LabelStreamEvent
//   (rsky-indexer/src/lib.rs: seq i64, labels [{src, uri, val, cts String; cid Option<String>; neg Option<bool>}]).
// serde's derive ignores unknown fields and reads a missing Option as None; anything else missing or of another JSON
// type is an error. Each reader throws with serde's wording when rsky's would fail.

type Json = Record<string, unknown>;

function object(raw: string | undefined, field: string): Json {
  if (raw === undefined) throw new Error(`Missing ${field} field`);
  const value: unknown = JSON.parse(raw);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`invalid type: expected struct`);
  return value as Json;
}

const kinds = {
  string: (v: unknown) => typeof v === 'string',
  i64: (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v),
  bool: (v: unknown) => typeof v === 'boolean',
  json: (v: unknown) => v !== undefined,
} as const;
type Kind = keyof typeof kinds;
/** A field: required of a kind, `?` an Option (absent or null), `=` one with a serde default (absent). */
type Spec = Record<string, Kind | `${Kind}?` | `${Kind}=`>;

function check(o: Json, spec: Spec): void {
  for (const [name, kind] of Object.entries(spec)) {
    const v = o[name];
    const base = kind.replace(/[?=]$/, '') as Kind;
    if (kind.endsWith('?') && (v === undefined || v === null)) continue;
    if (kind.endsWith('=') && v === undefined) continue;
    if (v === undefined) throw new Error(`missing field \`${name}\``);
    if (!kinds[base](v)) throw new Error(`invalid type for \`${name}\`: expected ${base}`);
  }
}

/** rsky-backfiller's BackfillEvent, from a repo_backfill entry's fields. */
export function rskyBackfillEvent(fields: Record<string, string>): Json {
  const o = object(fields['repo'], 'repo');
  check(o, { did: 'string', host: 'string', rev: 'string', status: 'string?', active: 'bool' });
  return o;
}

const OP = { seq: 'i64', time: 'string', did: 'string', commit: 'string', rev: 'string', collection: 'string', rkey: 'string' } as const;
const VARIANTS: Record<string, Spec> = {
  create: { ...OP, cid: 'string', record: 'json' },
  update: { ...OP, cid: 'string', record: 'json' },
  delete: OP,
  repo: { seq: 'i64=', time: 'string', did: 'string', commit: 'string', rev: 'string' },
  account: { seq: 'i64=', time: 'string', did: 'string', active: 'bool', status: 'string?' },
  identity: { seq: 'i64=', time: 'string', did: 'string', handle: 'string?' },
};

/** rsky-indexer's StreamEvent, from a firehose_live or firehose_backfill entry's fields. */
export function rskyStreamEvent(fields: Record<string, string>): Json {
  const o = object(fields['event'], 'event');
  const spec = typeof o['type'] === 'string' ? VARIANTS[o['type']] : undefined;
  if (spec === undefined) throw new Error(`unknown variant ${JSON.stringify(o['type'])}`);
  check(o, spec);
  return o;
}

/** rsky-indexer's LabelStreamEvent, from a label_live entry's fields. */
export function rskyLabelStreamEvent(fields: Record<string, string>): Json {
  const o = object(fields['labels'], 'labels');
  check(o, { seq: 'i64' });
  if (!Array.isArray(o['labels'])) throw new Error('invalid type for `labels`: expected a sequence');
  for (const label of o['labels'] as unknown[]) {
    if (typeof label !== 'object' || label === null) throw new Error('invalid type: expected struct Label');
    check(label as Json, { src: 'string', uri: 'string', cid: 'string?', val: 'string', neg: 'bool?', cts: 'string' });
  }
  return o;
}
