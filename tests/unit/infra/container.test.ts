// The container cannot be built here (no Docker engine), so check what the build relies on: every COPY source
// exists, the entrypoint exists, and the runtime code the image ships imports only packages that `npm ci
// --omit=dev` installs (a devDependency on the runtime path would crash the container at start-up).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(new URL('../../..', import.meta.url).pathname);
const dockerfile = readFileSync(path.join(ROOT, 'infra/Dockerfile'), 'utf8');
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return name === 'dev' ? [] : sources(full);
    return full.endsWith('.ts') || full.endsWith('.js') ? [full] : [];
  });
}

describe('infra/Dockerfile', () => {
  it('copies only paths that exist', () => {
    const copies = [...dockerfile.matchAll(/^COPY (.+) \S+$/gm)].flatMap((m) => (m[1] ?? '').split(/\s+/));
    expect(copies.length).toBeGreaterThan(4);
    for (const source of copies) expect(existsSync(path.join(ROOT, source)), source).toBe(true);
  });

  it('starts the skytide bin with the run command', () => {
    expect(dockerfile).toMatch(/ENTRYPOINT \["node", "bin\/skytide.js"\]/);
    expect(dockerfile).toMatch(/CMD \["run", "--migrate"\]/);
    expect(existsSync(path.join(ROOT, 'bin/skytide.js'))).toBe(true);
  });

  it('ships runtime code that imports only production dependencies or node built-ins', () => {
    // long-runners/dev is the dev network (dev-env): imported lazily by `skytide dev` only, never by `run`.
    const files = ['functions', 'adapters', 'long-runners'].flatMap((d) => sources(path.join(ROOT, d)));
    const allowed = new Set(Object.keys(pkg.dependencies));
    const offenders: string[] = [];
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/from ['"]([^'"]+)['"]|import\(['"]([^'"]+)['"]\)|^import ['"]([^'"]+)['"]/gm)) {
        const spec = m[1] ?? m[2] ?? m[3] ?? '';
        if (spec.startsWith('.') || spec.startsWith('node:') || spec.startsWith('#')) continue;
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] ?? '');
        if (!allowed.has(name)) offenders.push(`${path.relative(ROOT, file)} imports ${spec}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('keeps functions/ free of adapters, long-runners and node built-ins, except behind a runtime seam', () => {
    // package.json "imports" conditions pick a per-runtime file; only their `node` targets may use node:*.
    const seams = new Set(
      Object.values((pkg as { imports?: Record<string, { node?: string }> }).imports ?? {}).map((c) => path.join(ROOT, c.node ?? '')),
    );
    const offenders = sources(path.join(ROOT, 'functions')).filter((f) => !seams.has(f)).flatMap((file) => {
      const text = readFileSync(file, 'utf8');
      return [...text.matchAll(/from ['"]([^'"]+)['"]/g)]
        .map((m) => m[1] ?? '')
        .filter((spec) => spec.startsWith('node:') || spec.includes('/adapters/') || spec.includes('/long-runners/'))
        .map((spec) => `${path.relative(ROOT, file)} imports ${spec}`);
    });
    expect(offenders).toEqual([]);
  });
});
