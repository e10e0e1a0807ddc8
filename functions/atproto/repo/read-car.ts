// Reads a whole-repo CAR as a stream: every block's sha-256 is checked against its CID as it arrives, limits on
// total bytes, block count and block size are checked before the work they bound, and a CAR that ends inside a block
// is rejected (reason truncated_car), never taken as a partial repo. Blocks are held once, by CID bytes.
import { CarBlockIterator } from '@ipld/car/iterator';
import { SkytideError } from '../../errors.ts';
import { BlockMap } from '../car.ts';
import { CidLink } from '../cid-link.ts';
import { cidBytesMatch } from '../cid.ts';

export interface RepoLimits {
  maxBytes: number;
  maxBlocks: number;
  maxBlockBytes: number;
}

export const DEFAULT_REPO_LIMITS: RepoLimits = { maxBytes: 512 * 1024 * 1024, maxBlocks: 4_000_000, maxBlockBytes: 2 * 1024 * 1024 };

export interface RepoCar {
  root: CidLink;
  blocks: BlockMap;
  bytes: number;
}

async function* counted(source: AsyncIterable<Uint8Array>, limits: RepoLimits, total: { bytes: number }): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    total.bytes += chunk.length;
    if (total.bytes > limits.maxBytes) throw new SkytideError('repo_too_large', `repo CAR exceeds ${limits.maxBytes} bytes`);
    yield chunk;
  }
}

export async function readRepoCar(source: AsyncIterable<Uint8Array>, limits: RepoLimits = DEFAULT_REPO_LIMITS): Promise<RepoCar> {
  const total = { bytes: 0 };
  const blocks = new BlockMap();
  let root: CidLink | undefined;
  let headerRead = false;
  try {
    const iterator = await CarBlockIterator.fromIterable(counted(source, limits, total));
    const roots = await iterator.getRoots();
    headerRead = true;
    if (roots[0] === undefined) throw new SkytideError('invalid_car', 'CAR has no root');
    root = new CidLink(roots[0].bytes);
    for await (const { cid, bytes } of iterator) {
      if (blocks.size >= limits.maxBlocks) throw new SkytideError('repo_too_large', `repo CAR has more than ${limits.maxBlocks} blocks`);
      if (bytes.length > limits.maxBlockBytes) throw new SkytideError('repo_too_large', `block ${cid.toString()} is ${bytes.length} bytes`);
      if (!(await cidBytesMatch(cid.bytes, bytes))) throw new SkytideError('cid_mismatch', `block ${cid.toString()} does not hash to its CID`);
      // A duplicated block carries the same bytes (its hash was just checked), so keeping the first is enough.
      if (blocks.get(cid.bytes) === undefined) blocks.set(cid.bytes, bytes);
    }
  } catch (err) {
    if (err instanceof SkytideError) throw err;
    const message = err instanceof Error ? err.message : String(err);
    // A deadline or a dropped connection while reading: the download failed, not the repo.
    if (isAbort(err)) throw new SkytideError('fetch_failed', `reading the CAR stopped: ${message}`, {}, { cause: err });
    if (headerRead && /unexpected end of data/i.test(message)) throw new SkytideError('truncated_car', 'CAR ends inside a block', {}, { cause: err });
    throw new SkytideError('invalid_car', `CAR does not parse: ${message}`, {}, { cause: err });
  }
  return { root, blocks, bytes: total.bytes };
}

function isAbort(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e.name === 'AbortError' || e.name === 'TimeoutError' || /terminated|aborted|socket/i.test(e.message)) return true;
  }
  return false;
}

/** Bytes already in memory, as a one-chunk stream. */
export async function* oneChunk(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}
