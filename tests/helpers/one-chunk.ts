// Bytes already in memory, as the one-chunk stream readRepoCar (functions/atproto/repo/read-car.ts) reads.
export async function* oneChunk(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}
