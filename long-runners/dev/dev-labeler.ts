// The simulated network's labeler: skytide's own, on 127.0.0.1. Its DID is created in the dev PLC directory with an
// `#atproto_label` key (a secp256k1 key it signs with) and an `#atproto_labeler` service naming this server, as Ozone
// does; it serves com.atproto.label.subscribeLabels (every `#labels` frame after the requested cursor, then the new
// ones live). Labels and negations are signed over their DAG-CBOR encoding with the reference libraries (dev
// dependencies: this module is loaded only by `skytide dev`).
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

export interface DevLabel {
  uri: string;
  cid?: string;
  val: string;
  neg?: boolean;
}

export interface DevLabeler {
  did: string;
  /** `http://127.0.0.1:<port>`: the INGESTER_LABELER_HOSTS entry, and the endpoint its DID document names. */
  host: string;
  emit(labels: readonly DevLabel[]): Promise<number>;
  /** Labels emitted so far (negations included). */
  count(): number;
  close(): Promise<void>;
}

export async function startDevLabeler(plcUrl: string, pdsUrl: string): Promise<DevLabeler> {
  const { Secp256k1Keypair } = await import('@atproto/crypto');
  const { encode } = await import('@atproto/lex-cbor');
  const plc = await import('@did-plc/lib');
  const key = await Secp256k1Keypair.create({ exportable: true });
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/xrpc/com.atproto.label.subscribeLabels' });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const host = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const op = await plc.signOperation({
    type: 'plc_operation', alsoKnownAs: [], rotationKeys: [key.did()],
    verificationMethods: { atproto: key.did(), atproto_label: key.did() },
    // A DID document names its PDS too (identity resolution requires it): the dev PDS.
    services: { atproto_labeler: { type: 'AtprotoLabeler', endpoint: host }, atproto_pds: { type: 'AtprotoPersonalDataServer', endpoint: pdsUrl } },
    prev: null,
  }, key);
  const did = await plc.didForCreateOp(op);
  await new plc.Client(plcUrl).sendOperation(did, op);

  const log: { seq: number; frame: Uint8Array }[] = [];
  const live = new Set<WebSocket>();
  let labels = 0;
  const frame = (seq: number, signed: unknown[]) => {
    const header = encode({ op: 1, t: '#labels' });
    const body = encode({ seq, labels: signed } as never);
    const out = new Uint8Array(header.length + body.length);
    out.set(header, 0);
    out.set(body, header.length);
    return out;
  };

  server.on('connection', (socket, req) => {
    const cursor = Number(new URL(req.url ?? '/', host).searchParams.get('cursor') ?? 0);
    socket.on('close', () => live.delete(socket));
    socket.on('error', () => live.delete(socket));
    for (const entry of log) if (entry.seq > cursor) socket.send(entry.frame);
    live.add(socket);
  });

  return {
    did,
    host,
    async emit(items) {
      const cts = new Date().toISOString();
      const signed = [];
      for (const l of items) {
        const fields = { ver: 1, src: did, uri: l.uri, ...(l.cid === undefined ? {} : { cid: l.cid }), val: l.val, ...(l.neg === true ? { neg: true } : {}), cts };
        signed.push({ ...fields, sig: await key.sign(encode(fields as never)) });
      }
      const seq = log.length + 1;
      const bytes = frame(seq, signed);
      log.push({ seq, frame: bytes });
      labels += signed.length;
      for (const socket of live) socket.send(bytes);
      return seq;
    },
    count: () => labels,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of live) socket.terminate();
        server.close(() => resolve());
      }),
  };
}
