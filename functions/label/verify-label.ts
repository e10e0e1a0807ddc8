// Whether a label really comes from its `src` (label spec, "signature verification"; identity spec, labeler
// service): the DAG-CBOR of the label minus `sig`, verified against the `#atproto_label` key of src's DID document
// (never `#atproto`), and src's `#atproto_labeler` endpoint must be the host the label was read from, so a labeler
// we follow cannot speak for another. A key or an endpoint may have moved: the document is fetched again once before
// a label is rejected, as for commits. Sources in LABEL_TRUSTED_SOURCES may skip what they cannot offer: a signature
// (rsky's entries dropped it) or the host (a label relayed by another service); each such label is counted.
// An identity outage (DependencyError) propagates: the batch waits, and nothing is judged by the outage. A DID that
// cannot be resolved for another reason (a did:web host failing) is deferred, not rejected: the entry is retried.
import { dependencyErrorIn, describeError } from '../errors.ts';
import { DidHostUnavailableError, type AtprotoIdentity, type IdentityResolver } from '../atproto/identity/did-document.ts';
import { formatDidKey } from '../atproto/crypto/keys.ts';
import { verifySignature } from '../atproto/crypto/verify.ts';
import type { Reason } from '../reasons.ts';
import { signingBytes, type Label } from './label.ts';

/** Why a label is refused: a verdict on the label itself, counted and never retried. */
export const LABEL_REJECTIONS = [
  'invalid_label', 'future_cts', 'unsigned_label', 'unversioned_label', 'wrong_labeler', 'no_label_key', 'bad_signature',
] as const;
export type LabelRejection = (typeof LABEL_REJECTIONS)[number];

/** Why a trusted source's label was accepted without one of the checks. */
export const TRUST_REASONS = ['unsigned', 'other_host'] as const;
export type TrustReason = (typeof TRUST_REASONS)[number];

export type LabelCheck =
  /** `identity`: the document the signature was checked against (absent for a trusted unsigned label). */
  | { ok: true; signingKey?: string; trusted?: TrustReason; identity?: AtprotoIdentity }
  | { ok: false; reason: LabelRejection; message: string }
  /**
   * Deferred. `wait`: the source's own did:web host could not be reached, which is that host's outage, not a verdict
   * on the label, so the entry waits without counting a delivery (labels are order-free: version.ts).
   */
  | { ok: 'retry'; reason: Reason; message: string; wait?: true };

/**
 * DID documents for one batch: each DID is resolved once, and fetched again (bypassing caches) at most once, however
 * many of its labels the batch holds.
 */
export class BatchIdentities {
  readonly #resolver: IdentityResolver;
  readonly #current = new Map<string, Promise<AtprotoIdentity>>();
  readonly #refreshed = new Set<string>();

  constructor(resolver: IdentityResolver) {
    this.#resolver = resolver;
  }

  get(did: string): Promise<AtprotoIdentity> {
    let p = this.#current.get(did);
    if (p === undefined) this.#current.set(did, (p = this.#resolver.resolve(did)));
    return p;
  }

  /** The document fetched fresh in this batch for `did`, if one was. */
  async refreshed(did: string): Promise<AtprotoIdentity | undefined> {
    if (!this.#refreshed.has(did)) return undefined;
    try {
      return await this.#current.get(did);
    } catch {
      return undefined;
    }
  }

  /** A fresh document, unless one was already fetched fresh in this batch (then undefined: nothing new to learn). */
  refresh(did: string): Promise<AtprotoIdentity> | undefined {
    if (this.#refreshed.has(did)) return undefined;
    this.#refreshed.add(did);
    const p = this.#resolver.resolve(did, { forceRefresh: true });
    this.#current.set(did, p);
    return p;
  }
}

/** The labeler endpoint names `host` (a host[:port] without scheme, as label_live entries carry it). */
export function isLabelerHost(endpoint: string, host: string): boolean {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return false;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return false;
  const bare = host.replace(/^[a-z]+:\/\//i, '').replace(/\/+$/, '');
  try {
    // Parsed with the endpoint's own scheme, so a default port written out (`:443`) compares equal.
    return new URL(`${url.protocol}//${bare}`).host.toLowerCase() === url.host.toLowerCase();
  } catch {
    return false;
  }
}

export function problemWith(identity: AtprotoIdentity, label: Label, host: string | undefined, trusted: boolean): { reason: LabelRejection; message: string } | undefined {
  const fromItsHost = host !== undefined && identity.labeler !== undefined && isLabelerHost(identity.labeler, host);
  if (!fromItsHost && !trusted) {
    return {
      reason: 'wrong_labeler',
      message: identity.labeler === undefined ? `${label.src} runs no labeler` : `${label.src} labels from ${identity.labeler}, not ${host ?? 'an unknown host'}`,
    };
  }
  if (identity.labelKey === undefined) return { reason: 'no_label_key', message: `${label.src} publishes no #atproto_label key` };
  if (!verifySignature(identity.labelKey, signingBytes(label), label.sig!)) {
    return { reason: 'bad_signature', message: `label signature does not verify for ${label.src}` };
  }
  return undefined;
}

export async function checkLabel(label: Label, host: string | undefined, trusted: boolean, identities: BatchIdentities): Promise<LabelCheck> {
  // Unsigned only from a trusted source and only in an entry that names no labeler host (rsky's): read from a host,
  // nothing shows who wrote it, and any labeler we follow could send unsigned labels and negations in a trusted
  // source's name (found in review: a forged negation took a trusted !takedown down).
  if (label.sig === undefined) {
    if (trusted && host === undefined) return { ok: true, trusted: 'unsigned' };
    return { ok: false, reason: 'unsigned_label', message: trusted ? `unsigned label in the name of ${label.src}, read from ${host}: only entries that name no host may be unsigned` : `unsigned label from ${label.src}` };
  }
  // Label spec: `ver` is required (always 1) and is part of the signed bytes. A signature over a label without it
  // signs no version-1 label, so it vouches for nothing we can judge; trust skips an absent signature, never this.
  if (label.ver === undefined) {
    return { ok: false, reason: 'unversioned_label', message: `signed label from ${label.src} has no ver (a signed label must be version 1)` };
  }
  // An entry that names no labeler host (the TypeScript pipeline's) cannot be from src's own host: unless src is
  // trusted, problemWith's verdict is wrong_labeler whatever the document says. Given before resolving it, so such a
  // label never waits (parked under `unknown`) on a did:web host that is down only to be rejected once it is back.
  if (host === undefined && !trusted) {
    return { ok: false, reason: 'wrong_labeler', message: `the entry names no labeler host, and ${label.src} is not in LABEL_TRUSTED_SOURCES` };
  }
  const resolve = async (p: Promise<AtprotoIdentity>): Promise<AtprotoIdentity | LabelCheck> => {
    try {
      return await p;
    } catch (err) {
      const outage = dependencyErrorIn(err);
      if (outage !== undefined) throw outage;
      if (err instanceof DidHostUnavailableError) return { ok: 'retry', reason: 'identity_failed', message: describeError(err), wait: true };
      return { ok: 'retry', reason: 'identity_failed', message: describeError(err) };
    }
  };
  let identity = await resolve(identities.get(label.src));
  if ('ok' in identity) return identity;
  let problem = problemWith(identity, label, host, trusted);
  if (problem !== undefined) {
    // Another label of this source may have refreshed the document meanwhile: then that fresh one is checked.
    const fresh = identities.refresh(label.src) ?? identities.get(label.src);
    const again = await resolve(fresh);
    if ('ok' in again) return again;
    if (again !== identity) problem = problemWith(again, label, host, trusted);
    identity = again;
  }
  if (problem !== undefined) return { ok: false, ...problem };
  return accepted(identity, label, host);
}

function accepted(identity: AtprotoIdentity, label: Label, host: string | undefined): LabelCheck {
  const fromItsHost = host !== undefined && identity.labeler !== undefined && isLabelerHost(identity.labeler, host);
  const signingKey = formatDidKey(identity.labelKey!);
  return fromItsHost ? { ok: true, signingKey, identity } : { ok: true, signingKey, trusted: 'other_host', identity };
}

/**
 * A label accepted against a document that the same batch then found out of date (another label's check refetched
 * it: the key rotated) is checked again against the fresh one, so a key that was retired cannot slip through beside
 * the labels that revealed its retirement. No network: the fresh document is already here.
 */
export async function recheckAgainstFresh(check: LabelCheck, label: Label, host: string | undefined, trusted: boolean, identities: BatchIdentities): Promise<LabelCheck> {
  if (check.ok !== true || check.identity === undefined) return check;
  const fresh = await identities.refreshed(label.src);
  if (fresh === undefined || fresh === check.identity) return check;
  const problem = problemWith(fresh, label, host, trusted);
  return problem === undefined ? accepted(fresh, label, host) : { ok: false, ...problem };
}
