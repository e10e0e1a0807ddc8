// infra/grafana/skytide.json is the dashboard operators import beside the alerting rules: every panel's query must
// name only metrics, labels and label values of the registry the app builds at start-up (the checks of
// alert-rules.test.ts), and every legend only labels its query's result carries, so no panel shows "No data" for a
// renamed metric or an empty legend for a dropped label.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { STREAMS } from '../../../adapters/redis/keys.ts';
import { analyseExpr, catalogueOf, type Catalogue } from '../../helpers/promql-check.ts';

const ROOT = path.resolve(new URL('../../..', import.meta.url).pathname);

interface Panel {
  id: number;
  title: string;
  type: string;
  datasource: { type: string; uid: string };
  gridPos: { h: number; w: number; x: number; y: number };
  targets: { refId: string; expr: string; legendFormat?: string; datasource: { uid: string } }[];
}

const dashboard = JSON.parse(readFileSync(path.join(ROOT, 'infra/grafana/skytide.json'), 'utf8')) as {
  uid: string;
  templating: { list: { name: string; type: string }[] };
  panels: Panel[];
};

describe('infra/grafana/skytide.json', () => {
  let catalogue: Catalogue;
  beforeAll(async () => {
    const { registry } = createMetrics({ hosts: ['relay.example'], streams: Object.values(STREAMS), labelHosts: ['labeler.example'] });
    catalogue = await catalogueOf(registry, { openLabels: ['host', 'src'] });
  });

  it('has panels with unique ids, each on the datasource variable, side by side without overlap', () => {
    expect(dashboard.panels.length).toBeGreaterThan(0);
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
    const variables = dashboard.templating.list.filter((v) => v.type === 'datasource').map((v) => `\${${v.name}}`);
    const cells = new Set<string>();
    for (const panel of dashboard.panels) {
      expect(panel.title.length, String(panel.id)).toBeGreaterThan(0);
      expect(variables, panel.title).toContain(panel.datasource.uid);
      for (const t of panel.targets) expect(variables, panel.title).toContain(t.datasource.uid);
      const { x, y, w, h } = panel.gridPos;
      expect(x + w, panel.title).toBeLessThanOrEqual(24);
      for (let i = x; i < x + w; i++) for (let j = y; j < y + h; j++) {
        expect(cells.has(`${i},${j}`), `${panel.title} overlaps another panel`).toBe(false);
        cells.add(`${i},${j}`);
      }
    }
  });

  it('queries only metrics, labels and values of the registry, and its legends name only labels of the result', () => {
    const problems: string[] = [];
    for (const panel of dashboard.panels) {
      for (const target of panel.targets) {
        const { problems: found, labels } = analyseExpr(target.expr, catalogue);
        problems.push(...found.map((p) => `${panel.title}: ${p}`));
        for (const m of (target.legendFormat ?? '').matchAll(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g)) {
          if (labels === undefined || !labels.has(m[1]!)) problems.push(`${panel.title}: legend {{${m[1]}}} is not a label of the result`);
        }
      }
    }
    expect(problems).toEqual([]);
  });
});
