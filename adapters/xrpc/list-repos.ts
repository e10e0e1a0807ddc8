// One page of com.atproto.sync.listRepos, read and checked at the edge: the one reader both sweepers use (the Redis
// one in long-runners/sweeper and the Worker's cron in adapters/runtime/worker-sweep.ts). Entries whose `did` is not
// a DID are dropped; `rev`, `active` and `status` are kept only when they have the lexicon's types.
import type { Fetch } from '../../functions/ports.ts';
import { SkytideError } from '../../functions/errors.ts';
import { isValidDid } from '../../functions/atproto/syntax/did.ts';

export interface ListedRepo {
  did: string;
  rev?: string;
  active?: boolean;
  status?: string;
}

export interface ListedPage {
  repos: ListedRepo[];
  /** Absent on the last page. */
  cursor?: string;
}

/** A relay or PDS host as configured (with or without a scheme) to its XRPC base URL. */
export function xrpcBase(host: string): string {
  const h = host.replace(/\/+$/, '');
  return /^https?:\/\//.test(h) ? h : `https://${h}`;
}

function listedRepo(value: unknown): ListedRepo | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v['did'] !== 'string' || !isValidDid(v['did'])) return undefined;
  return {
    did: v['did'],
    ...(typeof v['rev'] === 'string' ? { rev: v['rev'] } : {}),
    ...(typeof v['active'] === 'boolean' ? { active: v['active'] } : {}),
    ...(typeof v['status'] === 'string' ? { status: v['status'] } : {}),
  };
}

export async function listReposPage(fetch: Fetch, host: string, cursor: string | undefined, limit: number, signal: AbortSignal): Promise<ListedPage> {
  const url = `${xrpcBase(host)}/xrpc/com.atproto.sync.listRepos?limit=${limit}${cursor === undefined ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
  const res = await fetch(url, { signal });
  if (!res.ok) throw new SkytideError('fetch_failed', `listRepos: HTTP ${res.status}`, { host, cursor });
  const body = (await res.json()) as { repos?: unknown; cursor?: unknown };
  if (!Array.isArray(body.repos)) throw new SkytideError('fetch_failed', 'listRepos: no repos array', { host, cursor });
  const repos = body.repos.map(listedRepo).filter((r): r is ListedRepo => r !== undefined);
  return typeof body.cursor === 'string' && body.cursor.length > 0 ? { repos, cursor: body.cursor } : { repos };
}
