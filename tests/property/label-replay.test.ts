// Labels: replaying any set of labels in any order, duplicates included, in any batch split, one batch after another
// or all at once, ends in the same rows, and queryLabels answers what an independent model of the label spec says is
// in force (newest cts per (src, uri, val) across cids, a negation winning a tie, exp passed = not in force). The
// model is written apart from functions/label: instants as BigInt nanoseconds, not sortable strings.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Keypair } from '@atproto/crypto';
import { labelBatch, type LabelPorts } from '../../functions/label/handler.ts';
import { parseLabelItem, type LabelEntry } from '../../functions/label/entry.ts';
import { queryLabels } from '../../functions/label/query.ts';
import { parseMultikey } from '../../functions/atproto/crypto/keys.ts';
import { noMetrics, silentLog } from '../../functions/ports.ts';
import type { AtprotoIdentity, IdentityResolver } from '../../functions/atproto/identity/did-document.ts';
import { createIndexDb, type IndexDb } from '../helpers/index-db.ts';
import { labelEvent, labelJson, labelKeypair, signLabel, type LabelFields, type SignedLabel } from '../helpers/labels.ts';
import { checkRows } from '../../functions/sql-rows.ts';

const SIGNER = 'did:plc:propsignerpropsignerprop';
const TRUSTED = 'did:plc:proptrustedproptrustedpr';
const HOST = 'mod.example';
const NOW = Date.parse('2030-06-01T00:00:00.000Z');
const CIDS = [undefined, 'bafyreihpbwrqsipbigarmwyqokkse4dtfpg3jkygvmizjp6anyopplx4om', 'bafyreieznjaifhdvvsaohgg3pptul5mbmeqd6nijfittzzhftexpgcivxq'];
// Three instants, each in two spellings: equal instants must tie, whatever the text says.
const CTS = [
  ['2030-01-01T00:00:00.000Z', '2030-01-01T01:00:00+01:00'],
  ['2030-01-01T00:00:00.000001Z', '2029-12-31T23:00:00.000001-01:00'],
  ['2030-01-02T00:00:00Z', '2030-01-02T00:00:00.000000000Z'],
];
const EXP = [undefined, '2030-05-01T00:00:00Z', '2030-07-01T00:00:00Z'];

type PoolLabel = (LabelFields & { sig?: Uint8Array }) | SignedLabel;

/** A deterministic pool (seeded), so a failing case names the same labels on every run. */
async function makePool(key: Keypair): Promise<PoolLabel[]> {
  let seed = 7;
  const pick = <T>(xs: readonly T[]): T => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return xs[seed % xs.length]!;
  };
  const pool: PoolLabel[] = [];
  for (let i = 0; i < 64; i++) {
    const fields: LabelFields = {
      ver: 1,
      src: pick([SIGNER, SIGNER, TRUSTED]),
      uri: pick(['at://did:plc:subjectsubjectsubjectsub/app.bsky.feed.post/1', 'did:plc:subjectsubjectsubjectsub']),
      val: pick(['x', 'y']),
      cts: pick(CTS.flat()),
    };
    const cid = pick(CIDS);
    if (cid !== undefined) fields.cid = cid;
    // `neg: false` is signed by older Ozone and other libraries: a field of its own, not the same as no `neg`.
    const neg = pick([undefined, undefined, true, true, false]);
    if (neg !== undefined) fields.neg = neg;
    const exp = pick(EXP);
    if (exp !== undefined) fields.exp = exp;
    pool.push(fields.src === SIGNER ? await signLabel(key, fields) : fields);
  }
  // Twins only the presence of `neg` tells apart (unsigned: no signature differs), so the order must decide them too.
  const twin: LabelFields = { src: TRUSTED, uri: 'did:plc:subjectsubjectsubjectsub', val: 'x', cts: CTS[2]![0]! };
  pool.push(twin, { ...twin, neg: false });
  return pool;
}

// ---- the independent model ----
function nanos(dt: string): bigint {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(dt)!;
  const ms = BigInt(Date.parse(`${m[1]}${m[3]}`));
  return ms * 1_000_000n + BigInt((m[2] ?? '').slice(0, 9).padEnd(9, '0'));
}
const hex = (b?: Uint8Array) => (b === undefined ? '' : Buffer.from(b).toString('hex'));
function versionKey(l: PoolLabel): (bigint | number | string)[] {
  return [nanos(l.cts), l.neg === true ? 1 : 0, l.cts, l.cid ?? '', l.exp === undefined ? -1n : nanos(l.exp), hex(l.sig), l.ver ?? 0, l.neg === undefined ? 0 : 1];
}
function newer(a: PoolLabel, b: PoolLabel): boolean {
  const x = versionKey(a);
  const y = versionKey(b);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i]! > y[i]!;
  return false;
}
function model(labels: PoolLabel[]): { rows: string[]; inForce: PoolLabel[] } {
  const byRow = new Map<string, PoolLabel>();
  const byKey = new Map<string, PoolLabel>();
  for (const l of labels) {
    const row = `${l.src} ${l.uri} ${l.cid ?? ''} ${l.val}`;
    const key = `${l.uri}\u0000${l.src}\u0000${l.val}`;
    if (!byRow.has(row) || newer(l, byRow.get(row)!)) byRow.set(row, l);
    if (!byKey.has(key) || newer(l, byKey.get(key)!)) byKey.set(key, l);
  }
  const rows = [...byRow.values()].map((l) => `${l.src} ${l.uri} ${l.cid ?? ''} ${l.val} ${l.neg === true} ${l.neg !== undefined} ${l.cts} ${l.exp ?? ''}`).sort();
  const inForce = [...byKey.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([, l]) => l)
    .filter((l) => l.neg !== true && (l.exp === undefined || nanos(l.exp) > BigInt(NOW) * 1_000_000n));
  return { rows, inForce };
}

let db: IndexDb;
let pool: PoolLabel[];
let ports: LabelPorts;
beforeAll(async () => {
  db = await createIndexDb('prop_labels');
  const key = await labelKeypair();
  pool = await makePool(key);
  const labelKey = parseMultikey(key.did().slice('did:key:'.length));
  // The identity port, in memory: this property is about rows, not about fetching documents (integration tests do).
  const identity: IdentityResolver = {
    resolve: async (did): Promise<AtprotoIdentity> => ({ did, signingKey: labelKey, pds: 'https://pds.invalid', labelKey, labeler: `https://${HOST}` }),
  };
  ports = { sql: db.sql, clock: { now: () => NOW }, log: silentLog, metrics: noMetrics, identity, trustedSources: new Set([TRUSTED]) };
});
afterAll(async () => db?.close());

function entryOf(label: PoolLabel): LabelEntry {
  // The trusted source's labels are unsigned: entries naming no labeler host, as only those may be (verify-label.ts).
  const event = labelEvent(HOST, label);
  const parsed = parseLabelItem(label.src === TRUSTED ? { type: 'label', label: event.label } : event);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.value;
}

describe('labels: order, duplicates and batches do not change the result', () => {
  it('matches the model for random sequences, splits and concurrency', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.nat({ max: 65 }), { minLength: 1, maxLength: 40 }),
        fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 8 }),
        fc.boolean(),
        async (picks, sizes, concurrent) => {
          await db.sql.query('truncate label, label_version');
          const labels = picks.map((i) => pool[i]!);
          const batches: LabelEntry[][] = [];
          for (let at = 0, s = 0; at < labels.length; s++) {
            const size = sizes[s % sizes.length]!;
            batches.push(labels.slice(at, at + size).map(entryOf));
            at += size;
          }
          if (concurrent) await Promise.all(batches.map((b) => labelBatch(b, ports)));
          else for (const b of batches) await labelBatch(b, ports);

          const expected = model(labels);
          const answer = await queryLabels(db.sql, ports.clock, { uriPatterns: ['*'], limit: 250 });
          expect(answer.labels).toEqual(expected.inForce.map((l) => labelJson(l)));
          const rows = checkRows(await db.sql.query(
            `select src || ' ' || uri || ' ' || cid || ' ' || val || ' ' || neg || ' ' || coalesce("negSigned"::text, 'null') || ' ' || cts || ' ' || coalesce(exp, '') as line from label_version`,
          ), { line: 'string' });
          expect(rows.map((r) => r.line).sort()).toEqual(expected.rows);
          // The AppView's `label` holds the same rows, its columns only.
          expect(await db.sql.query('select * from label order by src, uri, cid, val')).toEqual(
            await db.sql.query('select src, uri, cid, val, neg, cts, exp from label_version order by src, uri, cid, val'));
          // Replaying everything, in reverse, in one batch, writes no row.
          expect((await labelBatch([...labels].reverse().map(entryOf), ports)).changed).toBe(0);
        },
      ),
      { numRuns: 40 },
    );
  });
});
