// Real signed labels and subscribeLabels frames for tests, made with the reference implementation: @atproto/crypto
// keys sign the @atproto/lex-cbor encoding of the label, as Ozone does (ozone mod-service/util.ts signLabel).
import { encode } from '@atproto/lex-cbor';
import { P256Keypair, Secp256k1Keypair, type Keypair } from '@atproto/crypto';
import { toBase64 } from '../../functions/atproto/lex-json.ts';
import type { JsonObject } from '../../functions/events.ts';
import type { Label } from '../../functions/label/label.ts';

/** The fields of a label an issuer signs: the label function's own type, without the signature. */
export type LabelFields = Omit<Label, 'sig'>;

export interface SignedLabel extends LabelFields {
  sig: Uint8Array;
}

export async function labelKeypair(curve: 'k256' | 'p256' = 'k256'): Promise<Keypair> {
  return curve === 'k256' ? Secp256k1Keypair.create({ exportable: true }) : P256Keypair.create({ exportable: true });
}

/** Signs exactly the fields given (undefined ones left out), as an issuer does. */
export async function signLabel(key: Keypair, fields: LabelFields): Promise<SignedLabel> {
  const unsigned = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as unknown as LabelFields;
  return { ...unsigned, sig: await key.sign(encode(unsigned as never)) };
}

/** A label as a label_live entry carries it: lex-JSON, `sig` as {"$bytes"}. */
export function labelJson(label: LabelFields & { sig?: Uint8Array }): JsonObject {
  const { sig, ...rest } = label;
  const out: JsonObject = { ...(rest as unknown as JsonObject) };
  for (const [k, v] of Object.entries(out)) if (v === undefined) delete out[k];
  if (sig !== undefined) out['sig'] = { $bytes: toBase64(sig) };
  return out;
}

/** A label_live `event` for one label read from `host`. */
export function labelEvent(host: string, label: LabelFields & { sig?: Uint8Array }): { type: 'label'; host: string; label: JsonObject } {
  return { type: 'label', host, label: labelJson(label) };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** A subscribeLabels message: header `{op, t}` then the body, each DAG-CBOR. */
export function messageFrame(t: string, body: Record<string, unknown>): Uint8Array {
  return concat(encode({ op: 1, t }), encode(body as never));
}

export function labelsFrame(seq: number, labels: (LabelFields & { sig?: Uint8Array })[]): Uint8Array {
  return messageFrame('#labels', { seq, labels });
}

export function errorFrame(error: string, message?: string): Uint8Array {
  return concat(encode({ op: -1 }), encode(message === undefined ? { error } : { error, message }));
}

/** An ISO datetime `ms` from now-ish (a fixed base keeps tests deterministic). */
export function at(base: string, offsetMs: number): string {
  return new Date(Date.parse(base) + offsetMs).toISOString();
}
