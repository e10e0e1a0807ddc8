// The arithmetic of the network projection (tests/bench/network.bench.ts): the per-repo fit and the split of the
// measured CPU into a per-repo and a per-record cost, projected onto the real network.
import { describe, expect, it } from 'vitest';
import { fitPerRepo, project, MACHINE, NETWORK } from '../../bench/network.bench.ts';

describe('network projection', () => {
  it('fits ms = a + b x records exactly on linear data', () => {
    const fit = fitPerRepo([10, 100, 1000, 5].map((n) => ({ records: n, ms: 20 + 0.5 * n })));
    expect(fit.a).toBeCloseTo(20, 9);
    expect(fit.b).toBeCloseTo(0.5, 9);
  });

  it('takes the fixed cost of a repo from the one-record run and the rest as the cost of records', () => {
    const perRepo = [100, 200, 300, 400].map((n) => ({ records: n, ms: 20 + 0.5 * n }));
    const r = {
      repos: 4, records: 1000, wallMs: 1000, nodeCpuS: 3, postgresCpuS: 2.8, peakRssMb: 100, dbBytes: 1e6, perRepo, failures: [],
      indexed: { record: 1000, post: 0, like: 0, follow: 0, repost: 0, actor_block: 0, profile: 0, repo_sync: 4 }, carBytes: 400_000, concurrency: 4,
    };
    // 10 one-record repos took 0.2 core-s: 0.02 core-s per repo, so 0.08 of the 5.8 core-s were the repos' own.
    const p = project(r, { repos: 10, nodeCpuS: 0.1, postgresCpuS: 0.1 });
    const perRepoCoreS = 0.02;
    const perRecordCoreS = (5.8 - 4 * 0.02) / 1000;
    const days = (NETWORK.repos * perRepoCoreS + NETWORK.records * perRecordCoreS) / (MACHINE.cores * MACHINE.efficiency) / 86_400;
    expect(p.days).toBeCloseTo(days, 6);
    expect(p.nodeCores + p.postgresCores).toBeCloseTo(MACHINE.cores * MACHINE.efficiency, 9);
    expect(p.nodeCores / p.postgresCores).toBeCloseTo(3 / 2.8, 9);
    expect(p.lines.join('\n')).toContain('goal: under 7');
  });
});
