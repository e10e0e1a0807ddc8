// A relay between a real PDS and the adapter (tests' harness; dev only, never imported by `run`), on 127.0.0.1, that forwards the PDS's frames and tampers with the
// commits of one repo as told: a commit re-signed by another key, a wrong prevData, a record block whose bytes no
// longer match its CID, a commit dropped (a skipped rev), an old commit replayed. Everything else passes unchanged,
// except seqs: upstream's seq s goes out as 2s, so a replayed commit can follow it as 2s + 1 (seqs only increase, and
// a frame that repeats a seq is dropped before its commit is even read). `seqFor` maps upstream seqs.
import { generateKeyPairSync, sign } from 'node:crypto';
import WebSocket, { WebSocketServer } from 'ws';
import type { AddressInfo } from 'node:net';
import { CID } from 'multiformats/cid';
import { decodeFrame } from '../../functions/atproto/frame.ts';
import { readCarBlocks } from '../../functions/atproto/car.ts';
import { CidLink } from '../../functions/atproto/cid-link.ts';
import { decodeCborFast } from '../../functions/atproto/fast-cbor.ts';
import { encodeCbor } from '../../functions/atproto/cbor.ts';
import { cidForCbor } from '../../functions/atproto/cid.ts';
import { encodeCar as encodeCarBytes, encodeFrame } from './frame-faults.ts';

const encodeCar = (root: CID, blocks: { cid: CID; bytes: Uint8Array }[]) => encodeCarBytes(root.bytes, blocks.map((b) => ({ cid: b.cid.bytes, bytes: b.bytes })));

export type Tamper = 'bad_signature' | 'bad_prev_data' | 'bad_record' | 'drop' | 'replay';

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const stranger = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey;

function lowS(sig: Uint8Array): Uint8Array {
  const s = BigInt('0x' + Buffer.from(sig.subarray(32)).toString('hex'));
  if (s > N / 2n) sig.set(Buffer.from((N - s).toString(16).padStart(64, '0'), 'hex'), 32);
  return sig;
}

async function rebuild(body: Record<string, unknown>, edit: (blocks: { cid: Uint8Array; bytes: Uint8Array }[], commit: Record<string, unknown>) => void): Promise<Record<string, unknown>> {
  const car = readCarBlocks(body['blocks'] as Uint8Array);
  const root = car.roots[0]!;
  const blocks = [...car.blocks.entries()].map((b) => ({ cid: b.cid, bytes: new Uint8Array(b.bytes) }));
  const commitBlock = blocks.find((b) => Buffer.compare(Buffer.from(b.cid), Buffer.from(root.bytes)) === 0)!;
  const commit = decodeCborFast(commitBlock.bytes) as Record<string, unknown>;
  edit(blocks, commit);
  const newBytes = encodeCbor(commit);
  const newCid = await cidForCbor(newBytes);
  const others = blocks.filter((b) => b !== commitBlock).map((b) => ({ cid: CID.decode(b.cid), bytes: b.bytes }));
  return { ...body, commit: newCid, blocks: encodeCar(newCid, [{ cid: newCid, bytes: newBytes }, ...others]) };
}

export async function startTamperRelay(upstream: string, targetDid: string, plan: Tamper[]) {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/xrpc/com.atproto.sync.subscribeRepos' });
  await new Promise<void>((r) => server.once('listening', () => r()));
  const applied: Tamper[] = [];
  let lastTargetFrame: Record<string, unknown> | undefined;
  const sockets = new Set<WebSocket>();

  const transform = async (bytes: Uint8Array): Promise<Uint8Array[]> => {
    const frame = decodeFrame(bytes);
    if (frame.kind !== 'message' || typeof frame.body['seq'] !== 'number') return [bytes];
    const upstreamSeq = frame.body['seq'];
    const renumbered = encodeFrame(frame.t, { ...frame.body, seq: 2 * upstreamSeq });
    if (frame.t !== '#commit' || frame.body['repo'] !== targetDid) return [renumbered];
    const body: Record<string, unknown> = { ...frame.body, seq: 2 * upstreamSeq };
    const ops = body['ops'] as unknown[];
    if (ops.length === 0) return [renumbered];
    const action = plan.shift();
    if (action === undefined) return [renumbered];
    applied.push(action);
    const previous = lastTargetFrame;
    lastTargetFrame = body;
    switch (action) {
      case 'bad_signature':
        return [encodeFrame('#commit', await rebuild(body, (_blocks, commit) => {
          const unsigned = { ...commit };
          delete unsigned['sig'];
          commit['sig'] = lowS(new Uint8Array(sign('sha256', encodeCbor(unsigned), { key: stranger, dsaEncoding: 'ieee-p1363' })));
        }))];
      case 'bad_prev_data':
        return [encodeFrame('#commit', { ...body, prevData: CID.parse('bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454') })];
      case 'bad_record': {
        // Flip a byte of the first record block, keeping its CID: the bytes no longer hash to it.
        const recordCid = CidLink.from((ops[0] as { cid: unknown }).cid)!;
        const car = readCarBlocks(body['blocks'] as Uint8Array);
        const list = [...car.blocks.entries()].map((b) => ({ cid: CID.decode(b.cid), bytes: new Uint8Array(b.bytes) }));
        const victim = list.find((b) => Buffer.compare(Buffer.from(b.cid.bytes), Buffer.from(recordCid.bytes)) === 0)!;
        victim.bytes[victim.bytes.length - 1]! ^= 1;
        const root = CID.decode(car.roots[0]!.bytes);
        return [encodeFrame('#commit', { ...body, blocks: encodeCar(root, [list.find((b) => b.cid.equals(root))!, ...list.filter((b) => !b.cid.equals(root))]) })];
      }
      case 'drop':
        return [];
      case 'replay':
        // This commit goes through; right after it, the previous one again under the next seq.
        return previous === undefined ? [renumbered] : [renumbered, encodeFrame('#commit', { ...previous, seq: 2 * upstreamSeq + 1 })];
    }
  };

  server.on('connection', (client, req) => {
    const asked = new URL(req.url ?? '/', 'http://x').searchParams.get('cursor');
    const cursor = asked === null ? null : String(Math.floor(Number(asked) / 2));
    const up = new WebSocket(`${upstream.replace(/^http/, 'ws')}/xrpc/com.atproto.sync.subscribeRepos${cursor === null ? '' : `?cursor=${cursor}`}`);
    sockets.add(client).add(up);
    let chain = Promise.resolve();
    up.on('message', (data: Buffer) => {
      const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      chain = chain.then(async () => {
        for (const out of await transform(bytes)) if (client.readyState === WebSocket.OPEN) client.send(out);
      });
    });
    const close = () => {
      up.terminate();
      client.terminate();
    };
    up.on('close', close).on('error', close);
    client.on('close', close).on('error', close);
  });

  return {
    host: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    applied,
    /** The seq the adapter sees for upstream's `seq`. */
    seqFor: (seq: number) => 2 * seq,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.terminate();
        server.close(() => resolve());
      }),
  };
}
