// sha-256 on Web runtimes (Workers): WebCrypto, asynchronous. Same contract as sha256-node.ts: the digest as a
// 32-character binary string, strings hashed as their UTF-8 bytes.
const encoder = new TextEncoder();

export async function sha256Binary(data: Uint8Array | string): Promise<string> {
  const bytes = typeof data === 'string' ? encoder.encode(data) : data;
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  let out = '';
  for (const byte of digest) out += String.fromCharCode(byte);
  return out;
}
