// The outage board: one start and one end line per outage however many loops wait and however often, every wait
// counted by dependency, and "waiting on <dependency> since <time>" while anyone waits.
import { describe, expect, it } from 'vitest';
import { createOutageBoard } from '../../../adapters/observability/outage-board.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { silentLog, type Log } from '../../../functions/ports.ts';

function recorder() {
  const lines: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
  const log: Log = {
    ...silentLog,
    info: (msg, fields = {}) => void lines.push({ level: 'info', msg, fields }),
    warn: (msg, fields = {}) => void lines.push({ level: 'warn', msg, fields }),
    child: () => log,
  };
  return { log, lines };
}

describe('outage board', () => {
  it('logs the start when the first loop waits and the end when the last one resumes, once each', async () => {
    const { log, lines } = recorder();
    const bundle = createMetrics({ hosts: [], streams: [] });
    let now = Date.parse('2025-01-02T03:04:05.000Z');
    const board = createOutageBoard({ log, metrics: bundle.metrics, now: () => now });
    expect(await bundle.registry.metrics()).toContain('skytide_outage_waits_total{dependency="postgres"} 0');

    for (let i = 0; i < 5; i++) board.waiting('index:0', 'postgres', 'connect ECONNREFUSED');
    now += 1000;
    board.waiting('backfill:0', 'postgres');
    expect(board.degraded()).toEqual(['waiting on postgres since 2025-01-02T03:04:05.000Z']);
    expect(board.snapshot()).toEqual([{ dependency: 'postgres', since: '2025-01-02T03:04:05.000Z', waiters: ['backfill:0', 'index:0'], waits: 6 }]);
    board.resumed('index:0');
    expect(board.degraded()).toHaveLength(1);
    now += 2000;
    board.resumed('backfill:0');
    board.resumed('backfill:0');
    expect(board.degraded()).toEqual([]);

    expect(lines.map((l) => l.msg)).toEqual(['outage started', 'outage ended']);
    expect(lines[0]).toMatchObject({ level: 'warn', fields: { dependency: 'postgres', waiter: 'index:0', err: 'connect ECONNREFUSED' } });
    expect(lines[1]).toMatchObject({ level: 'info', fields: { dependency: 'postgres', durationMs: 3000, waits: 6 } });
    expect(await bundle.registry.metrics()).toContain('skytide_outage_waits_total{dependency="postgres"} 6');
    expect(await bundle.registry.metrics()).toContain('skytide_outage_waits_total{dependency="plc"} 0');
  });

  it('keeps outages of different dependencies apart, and moves a loop that now waits on another one', () => {
    const { log, lines } = recorder();
    const board = createOutageBoard({ log, metrics: createMetrics({ hosts: [], streams: [] }).metrics, now: () => 0 });
    board.waiting('backfill:0', 'plc');
    board.waiting('index:0', 'postgres');
    expect(board.degraded().sort()).toEqual(['waiting on plc since 1970-01-01T00:00:00.000Z', 'waiting on postgres since 1970-01-01T00:00:00.000Z']);
    board.waiting('backfill:0', 'postgres');
    expect(board.snapshot().map((s) => [s.dependency, s.waiters])).toEqual([['postgres', ['backfill:0', 'index:0']]]);
    expect(lines.map((l) => `${l.msg} ${String(l.fields['dependency'])}`)).toEqual(['outage started plc', 'outage started postgres', 'outage ended plc']);
  });
});
