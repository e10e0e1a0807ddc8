import { networkCorpus } from './network-corpus.ts';
import { indexBatch } from '../../functions/index/handler.ts';
import { createIndexDb } from '../helpers/index-db.ts';
import type { Sql, SqlExecutor } from '../../functions/ports.ts';
const ev = networkCorpus().next(25000);
const db = await createIndexDb('dbg');
const times = new Map<string, { n: number; ms: number }>();
const wrap = (x: SqlExecutor): SqlExecutor => ({
  async query(text, params) {
    const t = performance.now();
    try { return await x.query(text, params); } finally {
      const k = text.replace(/\s+/g, ' ').slice(0, 70);
      const e = times.get(k) ?? { n: 0, ms: 0 }; e.n++; e.ms += performance.now() - t; times.set(k, e);
    }
  },
});
const sql: Sql = { query: (t, p) => db.sql.query(t, p), transaction: (fn) => db.sql.transaction((tx) => fn(wrap(tx))) };
const ports = { ...db.ports, sql };
for (let i = 0; i < 5000; i += 500) await indexBatch(ev.slice(i, i + 500), ports);
times.clear();
let t = performance.now();
let inTx = 0;
for (let i = 5000; i < ev.length; i += 500) await indexBatch(ev.slice(i, i + 500), ports);
const total = performance.now() - t;
console.error('rate', Math.round(20000 / total * 1000), 'total ms', Math.round(total));
let sum = 0;
for (const [k, v] of [...times].sort((a, b) => b[1].ms - a[1].ms)) { sum += v.ms; console.error(Math.round(v.ms).toString().padStart(6), String(v.n).padStart(4), k); }
console.error('sql ms', Math.round(sum));
await db.close();
process.exit(0);
