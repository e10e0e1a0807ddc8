import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { VARS } from '../../../adapters/config/vars.ts';

// The README's configuration table is what operators read; it must say exactly what the parser does.
describe('README configuration table', () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const table = readme.split('<!-- vars:start -->')[1]?.split('<!-- vars:end -->')[0] ?? '';
  const rows = new Map<string, string>();
  for (const line of table.split('\n')) {
    const m = /^\| `([A-Z0-9_]+)` \| (.*?) \| (.*) \|$/.exec(line);
    if (m !== null) rows.set(m[1] ?? '', m[2] ?? '');
  }

  it('lists every variable, and only those', () => {
    expect([...rows.keys()].sort()).toEqual(VARS.map((v) => v.name).sort());
  });

  it('gives each variable the default the parser uses', () => {
    for (const spec of VARS) {
      const expected = 'default' in spec ? `\`${spec.default}\`` : '(unset)';
      expect(rows.get(spec.name), spec.name).toBe(expected);
    }
  });

  it('opens with the two commands that set everything up', () => {
    const head = readme.split('\n').slice(0, 10).join('\n');
    expect(head).toContain('npm run dev');
    expect(head).toContain('npm test');
  });
});
