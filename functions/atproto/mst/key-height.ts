// MST layout rules (repository spec): a key's height is the number of leading zero bits of sha-256(key) divided by
// two (fanout 4); keys are compressed against the previous key of the same node.
import { sha256Binary } from '#sha256';

export async function keyHeight(key: string): Promise<number> {
  return keyHeightFast(key);
}

/**
 * The height, synchronously where the runtime hashes synchronously (Node), else a promise. Walking 100,000 keys one
 * await at a time cost more in promise churn than the hashing itself.
 */
export function keyHeightFast(key: string): number | Promise<number> {
  const digest = sha256Binary(key);
  return typeof digest === 'string' ? heightOfBinary(digest) : digest.then(heightOfBinary);
}

function heightOfBinary(digest: string): number {
  let zeros = 0;
  for (let i = 0; i < digest.length; i++) {
    const byte = digest.charCodeAt(i);
    if (byte === 0) {
      zeros += 8;
      continue;
    }
    zeros += Math.clz32(byte) - 24;
    break;
  }
  return zeros >> 1;
}

export function commonPrefixLength(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** `collection/rkey`, both non-empty, at most 1024 characters of [a-zA-Z0-9_~\-:.]. */
export function isValidMstKey(key: string): boolean {
  return key.length <= 1024 && MST_KEY.test(key);
}
// One regex, no split: every key of every repo walked passes here.
const MST_KEY = /^[a-zA-Z0-9_~\-:.]+\/[a-zA-Z0-9_~\-:.]+$/;
