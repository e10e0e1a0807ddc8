// com.atproto.sync.getRepo from the account's PDS, as a stream: the body is never buffered whole here (readRepoCar
// caps it while reading), the whole exchange has a deadline, and the XRPC errors that mean "this repo is not there"
// are told apart from failures worth retrying.
import type { Fetch } from '../ports.ts';
import { SkytideError } from '../errors.ts';

/** Answers that will not change by asking again: the account's status is updated instead of retrying. */
export const PERMANENT_REPO_ERRORS = ['RepoNotFound', 'RepoTakendown', 'RepoSuspended', 'RepoDeactivated'] as const;
export type PermanentRepoError = (typeof PERMANENT_REPO_ERRORS)[number];

export type CarFetch = { kind: 'car'; body: AsyncIterable<Uint8Array> } | { kind: 'unavailable'; error: PermanentRepoError };

export async function fetchRepoCar(fetch: Fetch, pds: string, did: string, signal: AbortSignal): Promise<CarFetch> {
  const url = `${pds}/xrpc/com.atproto.sync.getRepo?did=${encodeURIComponent(did)}`;
  let res: Response;
  try {
    res = await fetch(url, { signal, redirect: 'error', headers: { accept: 'application/vnd.ipld.car' } });
  } catch (err) {
    if (err instanceof SkytideError) throw err;
    throw new SkytideError('fetch_failed', `getRepo for ${did} failed`, { did, pds }, { cause: err });
  }
  if (res.ok) {
    if (res.body === null) throw new SkytideError('fetch_failed', `getRepo for ${did} has no body`, { did });
    return { kind: 'car', body: res.body as unknown as AsyncIterable<Uint8Array> };
  }
  let error = '';
  try {
    const text = (await res.text()).slice(0, 4096);
    error = String((JSON.parse(text) as { error?: unknown }).error ?? '');
  } catch {
    // Not an XRPC error body: a plain HTTP failure, retried below.
  }
  if ((PERMANENT_REPO_ERRORS as readonly string[]).includes(error)) return { kind: 'unavailable', error: error as PermanentRepoError };
  throw new SkytideError('fetch_failed', `getRepo for ${did}: HTTP ${res.status}${error === '' ? '' : ` ${error}`}`, { did, status: res.status });
}
