// An independent witness of what a PDS emitted: one subscribeRepos connection straight to it (no proxy, never
// killed), decoded with the same frame decoder the adapter uses but without signature checks, counting the stream
// events each frame yields. Subscribed live from cursor 0 before any activity, it sees an account's events even when
// the PDS later deletes them from its history (account deletion), so its count is what firehose_live should have
// received over a run, exactly once each.
import WebSocket from 'ws';
import { decodeRepoFrame } from '../../functions/atproto/repo-frame.ts';

export interface FirehoseTap {
  /** Stream events per type (create, update, delete, identity, account) decoded so far. */
  readonly counts: Record<string, number>;
  readonly total: number;
  readonly lastSeq: number;
  /** Frames whose seq was not above the previous one (none are expected from one PDS). */
  readonly outOfOrder: number;
  /** Every op on a post, per URI, in stream order: its seq and the CID written (null: a delete). */
  readonly postOps: ReadonlyMap<string, readonly PostOp[]>;
  waitForSeq(seq: number, timeoutMs: number): Promise<void>;
  close(): void;
}

export interface PostOp {
  seq: number;
  cid: string | null;
}

export function startFirehoseTap(pdsUrl: string): FirehoseTap {
  const counts: Record<string, number> = {};
  const postOps = new Map<string, PostOp[]>();
  let total = 0;
  let lastSeq = 0;
  let outOfOrder = 0;
  let closed = false;
  let ws: WebSocket | undefined;
  // Frames are decoded one at a time, in arrival order.
  let chain = Promise.resolve();

  const connect = () => {
    const url = `${pdsUrl.replace(/^http/, 'ws')}/xrpc/com.atproto.sync.subscribeRepos?cursor=${lastSeq}`;
    ws = new WebSocket(url, { perMessageDeflate: false });
    ws.on('message', (data: Buffer) => {
      const bytes = new Uint8Array(data);
      chain = chain.then(async () => {
        const out = await decodeRepoFrame(bytes);
        if (out.kind !== 'sequenced') return;
        if (out.seq <= lastSeq) {
          outOfOrder++;
          return;
        }
        lastSeq = out.seq;
        for (const e of out.events) {
          counts[e.type] = (counts[e.type] ?? 0) + 1;
          total++;
          if ((e.type === 'create' || e.type === 'update' || e.type === 'delete') && e.collection === 'app.bsky.feed.post') {
            const uri = `at://${e.did}/${e.collection}/${e.rkey}`;
            const list = postOps.get(uri) ?? [];
            list.push({ seq: out.seq, cid: e.type === 'delete' ? null : e.cid });
            postOps.set(uri, list);
          }
        }
      });
    });
    ws.on('error', () => {});
    // The PDS is never disturbed; if the socket drops anyway, resume after the last seq seen.
    ws.on('close', () => {
      if (!closed) setTimeout(connect, 200);
    });
  };
  connect();

  return {
    counts,
    get total() {
      return total;
    },
    get lastSeq() {
      return lastSeq;
    },
    get outOfOrder() {
      return outOfOrder;
    },
    postOps,
    async waitForSeq(seq, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (lastSeq < seq) {
        if (Date.now() > deadline) throw new Error(`firehose tap at seq ${lastSeq}, waited for ${seq}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      await chain;
    },
    close() {
      closed = true;
      ws?.close();
    },
  };
}
