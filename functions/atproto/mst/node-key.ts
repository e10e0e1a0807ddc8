// An entry's key decompressed against the previous key of its node, with the rules both readers of untrusted nodes
// apply (walk.ts for whole repos, mst.ts for commit proofs). A failure is invalid_mst.
import { decodeUtf8From } from '@atcute/uint8array';
import { SkytideError } from '../../errors.ts';
import { commonPrefixLength, isValidMstKey } from './key-height.ts';
import type { NodeView } from './node.ts';

const bad = (message: string) => new SkytideError('invalid_mst', message);

/** Key `i` of the node read into `view` from `bytes`; `prev` is key i - 1 of the same node ('' for the first). */
export function entryKey(bytes: Uint8Array, view: NodeView, i: number, prev: string): string {
  const prefix = view.prefix[i]!;
  if (prefix > prev.length) throw bad('prefix longer than the previous key');
  let suffix: string;
  try {
    suffix = decodeUtf8From(bytes, view.keyStart[i]!, view.keyEnd[i]! - view.keyStart[i]!);
  } catch {
    throw bad('a key is not UTF-8');
  }
  const key = prev.slice(0, prefix) + suffix;
  // As @atproto/repo refuses the whole tree: a key no repo may hold is no record to index, and only ASCII keys
  // make the prefix (a byte count) the same as the string index it is applied as.
  if (!isValidMstKey(key)) throw bad(`invalid key ${JSON.stringify(key.slice(0, 80))}`);
  // The prefix is the whole common prefix (the spec: "the compaction scheme is mandatory, to ensure that the MST
  // structure is deterministic"): a shorter one encodes the same keys as another block, so one key set would have
  // two root CIDs. One character compared, as the key already starts with prev's first `prefix` characters.
  if (prefix < prev.length && prefix < key.length && key.charCodeAt(prefix) === prev.charCodeAt(prefix)) {
    throw bad(`key ${key} is written with prefix ${prefix}, shorter than the ${commonPrefixLength(prev, key)} common characters with the previous key: the prefix compaction is mandatory`);
  }
  return key;
}
