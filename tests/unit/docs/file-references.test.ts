// Every Markdown file a comment or a document names is one a clone has: notes kept outside the repository (the
// design folder beside a checkout) cannot be read by whoever reads the code.
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');
/** Not ours, or data. */
const SKIPPED_DIRS = new Set(['node_modules', '.git', '.skytide', 'fixtures']);
/** This file names what it looks for. */
const SELF = 'tests/unit/docs/file-references.test.ts';
const TEXT = /\.(ts|js|md|sql|sh|ya?ml|toml)$/;
/** A name ending in .md, not part of a longer path, URL or word. */
const MD_REFERENCE = /(?<![\w/.:-])((?:\.{1,2}\/)?[\w.-]+(?:\/[\w.-]+)*\.md)\b/g;

function walk(dir: string, out: string[]): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (!SKIPPED_DIRS.has(entry.name)) walk(join(dir, entry.name), out);
    } else if (TEXT.test(entry.name)) {
      out.push(relative(ROOT, join(dir, entry.name)));
    }
  }
  return out;
}

describe('file references', () => {
  const files = walk(ROOT, []);
  const markdown = new Set(files.filter((f) => f.endsWith('.md')));
  const names = new Set([...markdown].map((f) => basename(f)));
  const exists = (from: string, ref: string) =>
    markdown.has(ref) ||
    markdown.has(relative(ROOT, join(ROOT, dirname(from), ref))) ||
    (!ref.includes('/') && names.has(ref));

  it('name only Markdown files the repository holds', () => {
    const missing: Record<string, string[]> = {};
    for (const file of files.filter((f) => f !== SELF)) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      const refs = [...new Set([...text.matchAll(MD_REFERENCE)].map((m) => m[1]!))].filter((ref) => !exists(file, ref));
      if (refs.length > 0) missing[file] = refs.sort();
    }
    expect(missing).toEqual({});
  });

  it('point at no folder outside the repository', () => {
    const outside = files
      .filter((f) => f !== SELF)
      .filter((f) => /\.\.\/shared\b|shared\/design/.test(readFileSync(join(ROOT, f), 'utf8')));
    expect(outside).toEqual([]);
  });
});
