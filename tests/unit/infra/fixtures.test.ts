// A fresh clone has no folder beside the repository: every fixture a test reads must live in tests/fixtures, with
// its licence. This scans the project's own sources for any path that leaves the repository to find data.
import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const SKIP = new Set(['node_modules', '.git', 'fixtures', '.skytide', 'report']);

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    if (SKIP.has(name)) return [];
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return sources(full);
    return /\.(ts|js|json|sh|toml|yaml)$/.test(name) ? [full] : [];
  });
}

describe('fixtures travel with the repository', () => {
  it('no source reads the design folder beside the repository (a clone has none) or any folder outside it', () => {
    // Built from parts, so this guard does not itself name the path it looks for.
    const outside = new RegExp([['shared', 'fixtures'], ['..', '..', '..', '..', 'shared'], ['..', 'shared', '']].map((parts) => parts.join('/')).map((p) => p.replace(/[./]/g, (c) => `\\${c}`)).join('|'));
    const offenders = [...sources(ROOT), path.join(ROOT, '.ci/run')]
      .filter((file) => existsSync(file))
      .filter((file) => outside.test(readFileSync(file, 'utf8')))
      .map((file) => path.relative(ROOT, file));
    expect(offenders).toEqual([]);
  });

  it('each fixture source keeps its licence beside it', () => {
    expect(existsSync(path.join(ROOT, 'tests/fixtures/interop/LICENSE-CC0'))).toBe(true);
    expect(existsSync(path.join(ROOT, 'tests/fixtures/indigo/LICENSE-MIT'))).toBe(true);
    expect(existsSync(path.join(ROOT, 'tests/fixtures/indigo/LICENSE-APACHE'))).toBe(true);
  });
});
