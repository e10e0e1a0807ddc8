// What skytide needs from a DID document (identity spec): the document must be about the DID asked for; the
// #atproto signing key, the #atproto_pds endpoint (type AtprotoPersonalDataServer), the optional #atproto_label key
// and #atproto_labeler endpoint (type AtprotoLabeler; labelers), and the claimed handle (the first valid at:// alsoKnownAs). The handle is only a claim until verified
// bidirectionally.
import { SkytideError } from '../../errors.ts';
import { atprotoKeyOf, parseLegacyMultibase, parseMultikey, type PublicKey } from '../crypto/keys.ts';
import { isValidHandle } from '../syntax/handle.ts';

export interface AtprotoIdentity {
  did: string;
  signingKey: PublicKey;
  pds: string;
  labelKey?: PublicKey;
  /** The #atproto_labeler service endpoint (an http(s) URL without path), for DIDs that run a labeler. */
  labeler?: string;
  claimedHandle?: string;
}

/**
 * The ports a function needs to learn a DID's key and PDS. `resolve` throws a DependencyError when the PLC directory
 * or DNS is down (everyone's outage), a DidHostUnavailableError when a did:web host cannot be reached (that DID's own
 * outage), and SkytideError('identity_failed') for a verdict (no such DID, an unusable document; a DidTombstonedError for
 * a did:plc the directory tombstoned).
 */
export interface IdentityResolver {
  resolve(did: string, options?: { forceRefresh?: boolean }): Promise<AtprotoIdentity>;
  /**
   * Drops what a cache holds about the DID, so its next `resolve` asks the directory: an #identity event says the
   * document changed (a rotated key, a moved PDS). Absent on resolvers that cache nothing.
   */
  forget?(did: string): Promise<void>;
}

/**
 * A did:web host that did not answer (unreachable, timing out, 5xx): no verdict on the DID, and no outage of ours
 * either. The reason stays `identity_failed` for callers that do not tell them apart.
 */
export class DidHostUnavailableError extends SkytideError {
  constructor(message: string, context: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super('identity_failed', message, context, options);
    this.name = 'DidHostUnavailableError';
  }
}

/**
 * The PLC directory answered 410 Gone: the DID was tombstoned, the definitive end of an account (a 404, no such DID,
 * is not: the directory may simply not know it). A verdict like any other `identity_failed`, told apart by a backfill,
 * which takes it for a confirmed deletion (backfill-repo/account.ts).
 */
export class DidTombstonedError extends SkytideError {
  constructor(did: string) {
    super('identity_failed', `${did} is tombstoned in the PLC directory (HTTP 410)`, { did, status: 410 });
    this.name = 'DidTombstonedError';
  }
}

/**
 * The lookup did not answer within the time the caller gave it and goes on without it: neither a failure nor a
 * verdict (the live path parks the commit and looks the DID up beside its loop).
 */
export class IdentityPendingError extends Error {
  constructor(did: string, ms: number) {
    super(`identity of ${did} not known within ${ms} ms: looked up in the background`);
    this.name = 'IdentityPendingError';
  }
}

/** `inner`, except that an answer later than `ms` is an IdentityPendingError (the lookup itself goes on). */
export function withLookupDeadline(inner: IdentityResolver, ms: number): IdentityResolver {
  return {
    resolve(did, options) {
      const lookup = inner.resolve(did, options);
      // Whoever needs the answer later asks again (a cache joins the running lookup); this one is not waited for.
      lookup.catch(() => undefined);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new IdentityPendingError(did, ms)), ms);
      });
      return Promise.race([lookup, late]).finally(() => clearTimeout(timer));
    },
  };
}

function fail(message: string): never {
  throw new SkytideError('identity_failed', message);
}

/**
 * The endpoint of the first service with this id, when it has the type the DID spec requires for that id (as
 * @atproto/common-web checks): an `#atproto_pds` of another type is no PDS.
 */
function serviceEndpoint(doc: Record<string, unknown>, id: string, type: string): string | undefined {
  const services = Array.isArray(doc['service']) ? (doc['service'] as unknown[]) : [];
  for (const s of services) {
    if (typeof s !== 'object' || s === null) continue;
    const service = s as Record<string, unknown>;
    if (service['id'] === `#${id}` || service['id'] === `${String(doc['id'])}#${id}`) {
      return service['type'] === type && typeof service['serviceEndpoint'] === 'string' ? service['serviceEndpoint'] : undefined;
    }
  }
  return undefined;
}

function labelKeyOf(doc: Record<string, unknown>): PublicKey | undefined {
  const methods = Array.isArray(doc['verificationMethod']) ? (doc['verificationMethod'] as Record<string, unknown>[]) : [];
  const m = methods.find((x) => x['id'] === '#atproto_label' || x['id'] === `${String(doc['id'])}#atproto_label`);
  if (m === undefined || typeof m['publicKeyMultibase'] !== 'string') return undefined;
  try {
    return m['type'] === 'Multikey' ? parseMultikey(m['publicKeyMultibase']) : parseLegacyMultibase(m['publicKeyMultibase'], String(m['type']));
  } catch {
    return undefined;
  }
}

/**
 * The claimed handle: "the first valid handle URI found in the ordered list" (DID spec), so an `at://` entry that is
 * no handle (a trailing slash, a DID, bad syntax) is passed over, not taken as the claim and then dropped.
 */
function claimedHandleOf(doc: Record<string, unknown>): string | undefined {
  const aka = Array.isArray(doc['alsoKnownAs']) ? (doc['alsoKnownAs'] as unknown[]) : [];
  for (const entry of aka) {
    if (typeof entry !== 'string' || !entry.startsWith('at://')) continue;
    const handle = entry.slice('at://'.length).toLowerCase();
    if (isValidHandle(handle)) return handle;
  }
  return undefined;
}

/**
 * A document whose verificationMethod or service list holds something that is not an object (null, a string) is
 * unusable, as @atproto/common-web's schema refuses it: read as it is, a null entry threw a TypeError, which callers
 * take for a lookup that failed (waited on, retried) instead of a verdict on the document.
 */
function checkEntries(did: string, doc: Record<string, unknown>, field: 'verificationMethod' | 'service'): void {
  const list = doc[field];
  if (!Array.isArray(list)) return;
  if (list.some((entry) => typeof entry !== 'object' || entry === null || Array.isArray(entry))) fail(`DID document of ${did}: an entry of ${field} is not an object`);
}

/**
 * `url` without the slashes it ends with. NOTE: a loop, not `/\/+$/`: that regex retries every start of a run of
 * slashes against the end, quadratic in the run, so a did:web document (64 KB) with an endpoint full of slashes held
 * the event loop for seconds.
 */
function withoutTrailingSlashes(url: string): string {
  let end = url.length;
  while (end > 0 && url.charCodeAt(end - 1) === 0x2f) end--;
  return url.slice(0, end);
}

export function parseDidDocument(did: string, doc: unknown): AtprotoIdentity {
  if (typeof doc !== 'object' || doc === null) fail(`DID document of ${did} is not an object`);
  const d = doc as Record<string, unknown>;
  // NOTE: an id that is not a string is named by its type: String() of a deeply nested array recurses until the
  // stack overflows, a RangeError that callers took for a lookup that failed rather than a verdict on the document.
  if (d['id'] !== did) fail(`DID document is about ${typeof d['id'] === 'string' ? d['id'] : `an id of type ${Array.isArray(d['id']) ? 'array' : typeof d['id']}`}, not ${did}`);
  checkEntries(did, d, 'verificationMethod');
  checkEntries(did, d, 'service');
  let signingKey: PublicKey;
  try {
    signingKey = atprotoKeyOf(d);
  } catch (err) {
    fail(`DID document of ${did}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const pds = serviceEndpoint(d, 'atproto_pds', 'AtprotoPersonalDataServer');
  if (pds === undefined) fail(`DID document of ${did} names no #atproto_pds of type AtprotoPersonalDataServer`);
  let url: URL;
  try {
    url = new URL(pds);
  } catch {
    fail(`DID document of ${did} has an invalid PDS endpoint`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') fail(`PDS endpoint of ${did} is not http(s)`);
  const handle = claimedHandleOf(d);
  const identity: AtprotoIdentity = { did, signingKey, pds: withoutTrailingSlashes(pds) };
  const labelKey = labelKeyOf(d);
  if (labelKey !== undefined) identity.labelKey = labelKey;
  const labeler = serviceEndpoint(d, 'atproto_labeler', 'AtprotoLabeler');
  if (labeler !== undefined) identity.labeler = labeler;
  if (handle !== undefined) identity.claimedHandle = handle;
  return identity;
}
